"""The claim check: every sentence of an answer held against the sources it cites, in code.

A small local model cites a real page for a fact it made up ("40 mg/kg [1]" from a page with no
dose). Its citations are prose like the rest of its output, so nothing it writes is trusted: each
sentence (a claim) is compared with the sources, and

- the specific terms of a claim (numbers, units, dates, names, acronyms, code identifiers) must
  appear in the source that supports it, or in the question the user asked;
- the claim's other content words (those the question does not already contain) must be covered
  by that source to at least ``min_coverage``;
- the cited source is kept when it supports the claim; otherwise the marker moves to another
  source that does; a claim no source supports is shown as not found, never as a cited fact;
- an answer whose claims are mostly unsupported becomes the refusal.

Pure functions on plain values; the chain feeds the model's text in, sentence by sentence.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from app.answer.prompting import MARKER, CitationFilter, Source, is_refusal
from app.answer.terms import (
    content_stems,
    coverage,
    missing_terms,
    names_in,
    number_matches,
    numbers_in,
)

# Chosen by measurement on covidqa and docugami dev answers (docs/BENCHMARKS.md, claim check).
MIN_COVERAGE = 0.6
# A new number of a claim must stand within three sentences of half the claim's subject (the
# words it shares with the question, rare ones weighing more). Re-checking the recorded answers
# of the answer bench: 0.5 refuses 2 of the 4 answered absent questions and flags none of 58
# statements that were supported; 2/3 flags 1, 0.75 flags 3 (docs/BENCHMARKS.md).
MIN_SUBJECT_SHARE = 0.5
# An answer with more than this share of unsupported claims is refused as a whole.
MAX_UNSUPPORTED_SHARE = 0.5
# A sentence with fewer new content words than this and no specific term asserts nothing to check
# ("Yes.", "According to the sources:").
MIN_CLAIM_WORDS = 1
NOT_FOUND_NOTE = "(not found in your documents)"

_ABBREVIATIONS = frozenset("al e.g i.e fig figs vs etc no nos dr mr mrs ms approx ca cf eq st inc "
                           "corp ltd co jr sr u.s".split())
# A source's label as the prompt writes it ("[2] report.pdf, page 3:"). Small models sometimes
# answer by copying the numbered source list, label and all: the label is no claim (its file name
# is no word of the source, so the sentence would read as unsupported) and a copied passage that
# shares nothing with the question does not answer it.
ECHOED_LABEL = re.compile(r"^\s*(?:\[\d+\]\s*)?[^\n:\[\]]*?\.pdf,\s*page\s+\d+\s*:\s*", re.I)
# A sentence ends at . ! ? (or a line break) plus any markers that follow it.
# A marker that opens a copied source's label ("[2] report.pdf, page 3:") starts the next one.
_LABEL_AHEAD = r"[^\n:\[\]]*?\.pdf,\s*page\s+\d+\s*:"
_SENTENCE_END = re.compile(r"[.!?]+[\"')\]]*(?:\s*\[[\d,;\s]+\](?!" + _LABEL_AHEAD + r"))*(?=\s|$)|\n")


@dataclass(frozen=True)
class Evidence:
    """The source sentence that supports a claim: offsets into that source's text."""

    source: int
    start: int
    end: int


@dataclass(frozen=True)
class Claim:
    text: str  # the sentence as written, markers removed
    cited: tuple[int, ...]  # the markers the model put on it
    shown: tuple[int, ...]  # the markers shown: kept, moved, or none
    supported: bool
    checked: bool = True  # False for sentences that assert nothing (connectives, refusals)
    coverage: float = 1.0
    missing: tuple[str, ...] = ()  # specific terms no supporting source contains
    evidence: Evidence | None = None

    @property
    def verdict(self) -> str:
        if not self.checked:
            return "not a claim"
        if not self.supported:
            return "unsupported"
        if not self.cited:
            return "cited by the check"
        return "supported" if set(self.shown) <= set(self.cited) else "moved"

    def render(self) -> str:
        """The sentence as shown: its markers after it, or the not-found note."""
        if not self.checked:
            return self.text + "".join(f" [{n}]" for n in self.shown)
        tail = NOT_FOUND_NOTE if not self.supported else "".join(f"[{n}]" for n in self.shown)
        end = re.search(r"[.!?]+[\"')\]]*$", self.text)
        if end:
            return f"{self.text[:end.start()]} {tail}{self.text[end.start():]}"
        return f"{self.text} {tail}"


@dataclass
class CheckedAnswer:
    claims: list[Claim] = field(default_factory=list)

    @property
    def checked_claims(self) -> list[Claim]:
        return [c for c in self.claims if c.checked]

    @property
    def unsupported(self) -> list[Claim]:
        return [c for c in self.checked_claims if not c.supported]

    @property
    def unsupported_share(self) -> float:
        checked = self.checked_claims
        return len(self.unsupported) / len(checked) if checked else 0.0

    @property
    def mostly_unsupported(self) -> bool:
        return bool(self.checked_claims) and self.unsupported_share > MAX_UNSUPPORTED_SHARE

    @property
    def text(self) -> str:
        return " ".join(c.render() for c in self.claims).strip()

    @property
    def cited_numbers(self) -> list[int]:
        seen: dict[int, None] = {}
        for claim in self.claims:
            for n in claim.shown:
                seen.setdefault(n, None)
        return list(seen)


# ---------------------------------------------------------------- sentences

def split_sentences(text: str) -> list[tuple[str, tuple[int, ...]]]:
    """(sentence without markers, the marker numbers on it), in order. A marker belongs to the
    sentence it follows, also when the model put it after the full stop."""
    out: list[tuple[str, tuple[int, ...]]] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        if not _ends_sentence(text[start:match.start()], match.group(),
                              text[match.end():].lstrip()):
            continue
        _append(out, text[start:match.end()])
        start = match.end()
    if text[start:].strip():
        _append(out, text[start:])
    return out


def _ends_sentence(before: str, end: str, following: str) -> bool:
    """Whether ``end`` (a full stop or a line break, with markers) closes the sentence."""
    if end == "\n":
        return True
    if following and following[0].islower():
        return False  # "5 vs. 7", "et al. reported": the sentence goes on
    if end.startswith("."):
        last_word = re.findall(r"[\w.]+$", before)
        if last_word and (last_word[0].lower().rstrip(".") in _ABBREVIATIONS
                          or re.fullmatch(r"(?:[A-Z]\.)*[A-Z]", last_word[0])):
            return False  # "e.g.", "et al.", initials and "U.S."
        if re.search(r"(?:^|[;,:(]\s*|\n\s*)\d{1,2}$", before):
            return False  # a list's "2." ("…-PCR; 2. Random priming …")
    return True


def _append(out: list[tuple[str, tuple[int, ...]]], piece: str) -> None:
    numbers: list[int] = []
    for match in MARKER.finditer(piece):
        for n in re.split(r"\s*[,;]\s*", match.group(1)):
            if int(n) not in numbers:
                numbers.append(int(n))
    sentence = ECHOED_LABEL.sub("", MARKER.sub("", piece))
    sentence = re.sub(r"[ \t]+([.,;:!?])", r"\1", re.sub(r"\s+", " ", sentence)).strip()
    sentence = re.sub(r"^[-*•]\s+", "", sentence)
    if sentence or numbers:
        if not sentence and out:  # markers alone on a line: they belong to the sentence before
            prev, prev_numbers = out[-1]
            out[-1] = (prev, prev_numbers + tuple(n for n in numbers if n not in prev_numbers))
            return
        out.append((sentence, tuple(numbers)))


def source_sentences(text: str) -> list[tuple[int, int]]:
    """Character spans of a source's sentences (for the evidence of a claim)."""
    spans, start = [], 0
    for match in re.finditer(r"[.!?](?=\s+[A-Z(\[\d])|\n\s*\n", text):
        end = match.end()
        if text[start:end].strip():
            spans.append((start, end))
        start = end
    if text[start:].strip():
        spans.append((start, len(text)))
    return spans


def best_evidence(claim: str, source: Source) -> Evidence:
    """The sentence of ``source`` (with its neighbour when that adds words) closest to the claim."""
    want = content_stems(claim) | {n for n in numbers_in(claim)}
    spans = source_sentences(source.text) or [(0, len(source.text))]

    def score(span: tuple[int, int]) -> int:
        piece = source.text[span[0]:span[1]]
        return len(want & (content_stems(piece) | numbers_in(piece)))

    best = max(range(len(spans)), key=lambda i: score(spans[i]))
    start, end = spans[best]
    for neighbour in (best - 1, best + 1):
        if 0 <= neighbour < len(spans):
            joined = (min(start, spans[neighbour][0]), max(end, spans[neighbour][1]))
            if score(joined) > score((start, end)):
                start, end = joined
    while start < end and source.text[start].isspace():
        start += 1
    return Evidence(source.number, start, end)


# ---------------------------------------------------------------- the check

def is_copied_passage(piece: str, question: str) -> bool:
    """Whether ``piece`` is a source copied with its label that shares no content word with the
    question (the rest of a copied source list, beside the passage that answers)."""
    return bool(ECHOED_LABEL.match(piece)) and not content_stems(ECHOED_LABEL.sub(
        "", MARKER.sub("", piece))) & content_stems(question)


def is_assertion(sentence: str, question: str) -> bool:
    if is_refusal(sentence):
        return False
    new_words = content_stems(sentence) - content_stems(question)
    return len(new_words) >= MIN_CLAIM_WORDS or bool(numbers_in(sentence) - numbers_in(question)) \
        or bool(names_in(sentence) - names_in(question))


def unbound_numbers(claim: str, evidence: str, question: str = "",
                    min_share: float = MIN_SUBJECT_SHARE) -> list[str]:
    """The claim's new numbers that no stretch of three sentences of ``evidence`` states
    together with the claim's subject (the content words it shares with the question). "The dose
    of diclazuril is 20 mg/kg" is not supported by a passage that says "20 mg/kg toltrazuril"
    and names diclazuril elsewhere, although every word of the claim is somewhere in it."""
    new_numbers = numbers_in(claim) - numbers_in(question)
    subject = content_stems(claim) & content_stems(question)
    if not new_numbers or not subject:
        return []
    spans = source_sentences(evidence) or [(0, len(evidence))]
    sentences = [content_stems(evidence[a:b]) for a, b in spans]
    # Rare subject words weigh more: "diclazuril", named once, is what the number must stand
    # next to; "lambs", in every sentence, says little.
    weight = {w: math.log(1 + len(spans) / max(1, sum(w in s for s in sentences)))
              for w in subject}
    total = sum(weight.values())
    windows = [evidence[spans[max(0, i - 1)][0]:spans[min(len(spans) - 1, i + 1)][1]]
               for i in range(len(spans))]
    return [number for number in sorted(new_numbers)
            if not any(number_matches(number, numbers_in(w))
                       and sum(weight[x] for x in subject & content_stems(w)) >= min_share * total
                       for w in windows)]


def _supports(sentence: str, text: str, question: str, min_coverage: float
              ) -> tuple[bool, float, list[str]]:
    missing = missing_terms(sentence, text, question) or unbound_numbers(sentence, text, question)
    share = coverage(sentence, text, question)
    return not missing and share >= min_coverage, share, missing


def check_claim(sentence: str, cited: Sequence[int], sources: Sequence[Source], question: str,
                min_coverage: float = MIN_COVERAGE) -> Claim:
    """One sentence against the sources: kept, moved to the source that supports it, or
    unsupported."""
    by_number = {s.number: s for s in sources}
    cited = tuple(n for n in cited if n in by_number)
    if not is_assertion(sentence, question):
        return Claim(sentence, cited, cited, supported=True, checked=False)
    if cited:
        together = " \n ".join(by_number[n].text for n in cited)
        ok, share, missing = _supports(sentence, together, question, min_coverage)
        if ok:
            alone = [n for n in cited if _supports(sentence, by_number[n].text, question,
                                                   min_coverage)[0]]
            shown = tuple(alone) or cited
            return Claim(sentence, cited, shown, True, coverage=share,
                         evidence=best_evidence(sentence, by_number[shown[0]]))
    else:
        share, missing = 0.0, list(missing_terms(sentence, "", question))
    best: tuple[float, Source] | None = None
    for source in sources:
        if source.number in cited:
            continue
        ok, other_share, _ = _supports(sentence, source.text, question, min_coverage)
        if ok and (best is None or other_share > best[0]):
            best = (other_share, source)
    if best is not None:
        return Claim(sentence, cited, (best[1].number,), True, coverage=best[0],
                     evidence=best_evidence(sentence, best[1]))
    return Claim(sentence, cited, (), False, coverage=share, missing=tuple(missing))


def check_answer(text: str, sources: Sequence[Source], question: str,
                 min_coverage: float = MIN_COVERAGE) -> CheckedAnswer:
    """Every sentence of ``text`` checked (see ``check_claim``)."""
    return CheckedAnswer([check_claim(sentence, cited, sources, question, min_coverage)
                          for sentence, cited in split_sentences(text)])


class ClaimStream:
    """Feeds the model's text through as it comes, without its markers, and hands each sentence
    over once it is complete (markers included) and checked: only then does a marker, or the
    not-found note, appear, so an unchecked claim is never on screen as a cited fact."""

    def __init__(self, sources: Sequence[Source], question: str,
                 min_coverage: float = MIN_COVERAGE, check: bool = True) -> None:
        self.sources = list(sources)
        self.question = question
        self.min_coverage = min_coverage
        self.check = check  # False: sentences pass with their valid markers, unchecked
        self.pending = ""
        self.answer = CheckedAnswer()
        self._unmarked = CitationFilter(set())  # every marker held back, then dropped
        self._copying = False

    def feed(self, text: str) -> list[str | Claim]:
        """In order: text to show now (no markers, not yet checked) and completed claims."""
        out: list[str | Claim] = []
        for char in text:
            self.pending += char
            cut = self._complete_prefix()
            if cut is not None:
                piece, self.pending = self.pending[:cut], self.pending[cut:]
                self._unmarked.held = ""
                out.extend(self._check(piece))
                visible = self._unmarked.feed(self.pending)
            else:
                visible = self._unmarked.feed(char)
            if visible:
                if out and isinstance(out[-1], str):
                    out[-1] += visible
                else:
                    out.append(visible)
        return out

    def flush(self) -> list[Claim]:
        piece, self.pending = self.pending, ""
        self._unmarked.held = ""
        return self._check(piece)

    def _check(self, piece: str) -> list[Claim]:
        # A copied passage that does not bear on the question goes, to the end of its line.
        if "\n" in piece[:len(piece) - len(piece.lstrip())]:
            self._copying = False
        if is_copied_passage(piece, self.question):
            self._copying = True
        if self._copying:
            return []
        if not self.check:
            valid = {s.number for s in self.sources}
            claims = [Claim(sentence, kept, kept, supported=True, checked=False)
                      for sentence, cited in split_sentences(piece)
                      for kept in [tuple(n for n in cited if n in valid)]]
            self.answer.claims.extend(claims)
            return claims
        claims = [check_claim(sentence, cited, self.sources, self.question, self.min_coverage)
                  for sentence, cited in split_sentences(piece)]
        self.answer.claims.extend(claims)
        return claims

    def _complete_prefix(self) -> int | None:
        """Where the first complete sentence (with any markers after it) ends, once the text
        after it shows it is over: a capital letter, a line break, or more than whitespace."""
        for match in _SENTENCE_END.finditer(self.pending):
            rest = self.pending[match.end():]
            stripped = rest.lstrip()
            if not stripped or (stripped.startswith("[") and not ECHOED_LABEL.match(stripped)):
                continue  # a marker may still follow
            if _ends_sentence(self.pending[:match.start()], match.group(), stripped):
                return match.end()
        return None
