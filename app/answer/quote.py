"""The extractive answer: the sentences of the sources that best answer the question, found in
code before the model starts, so the user reads them within a second of Enter.

Measured on 320 covidqa dev questions spread over the papers (tests/bench/bench_quote.py,
docs/BENCHMARKS.md "The quote"): the best sentence and the one after it, scored by the
question's content words weighted by how rare they are among the candidate sentences, hold 0.57
of the gold answer's tokens (0.47 for the best single sentence by plain word count). It takes
about 2 ms and no model. Pure functions only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from app.answer.claims import source_sentences
from app.answer.terms import content_stems

# A sentence shorter than this is a heading, a figure label or a stray line, not an answer.
MIN_SENTENCE_CHARS = 20
# The quote takes the next sentence too (0.57 token recall against 0.50 for one sentence),
# unless the two together would be longer than this: then the best sentence alone.
MAX_QUOTE_CHARS = 600
# Ties go to the better-ranked source: a rank costs less than any matched word.
RANK_PENALTY = 0.01

QUOTE_LEAD = "From your documents:"


@dataclass(frozen=True)
class Quote:
    """Sentences of source ``source``: ``text`` for display (spaces normalised), ``start``/``end``
    the span in that source's text as the model and the sources panel see it."""

    source: int
    text: str
    start: int
    end: int

    def render(self) -> str:
        """The quote as plain text with its marker, as the terminal and the API show it."""
        return f"{QUOTE_LEAD} \u201c{self.text}\u201d [{self.source}]"


@dataclass(frozen=True)
class Candidate:
    """One sentence of one passage, scored for the question."""

    rank: int  # of its passage, 0 = best
    source: int
    text: str  # the whole passage
    spans: tuple[tuple[int, int], ...]  # the passage's sentences
    index: int  # this sentence among them
    matched: int  # question content words it holds
    score: float


def candidates(question: str, passages: Sequence[tuple[int, str]], rarity: bool = True
               ) -> list[Candidate]:
    """Every sentence of ``passages`` ((source number, text), best-ranked first), scored by the
    question's content words it holds, each weighted by log(1 + n / df) over the n candidate
    sentences (``rarity``; else counted): a word in every sentence, the paper's subject, tells
    less about where the answer is than a rare one."""
    want = content_stems(question)
    found = []
    for rank, (number, text) in enumerate(passages):
        spans = tuple(s for s in source_sentences(text)
                      if len(text[s[0]:s[1]].strip()) >= MIN_SENTENCE_CHARS)
        for i, (start, end) in enumerate(spans):
            found.append((rank, number, text, spans, i, want & content_stems(text[start:end])))
    weight = dict.fromkeys(want, 1.0)
    if rarity:
        for stem in want:
            df = sum(stem in row[5] for row in found)
            weight[stem] = math.log(1 + len(found) / df) if df else 0.0
    return [Candidate(rank, number, text, spans, i, len(words),
                      sum(weight[w] for w in words) - RANK_PENALTY * rank)
            for rank, number, text, spans, i, words in found]


def quote_from(candidate: Candidate, following: bool = True) -> Quote:
    """The candidate's sentence, with the next one when ``following`` and the two fit in
    MAX_QUOTE_CHARS; an endless "sentence" (a table, a list) is cut at a word."""
    text, spans, i = candidate.text, candidate.spans, candidate.index
    start, end = spans[i]
    if following and i + 1 < len(spans) and spans[i + 1][1] - start <= MAX_QUOTE_CHARS:
        end = spans[i + 1][1]
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end - start > MAX_QUOTE_CHARS:
        cut = text.rfind(" ", start, start + MAX_QUOTE_CHARS)
        end = cut if cut > start + MAX_QUOTE_CHARS // 2 else start + MAX_QUOTE_CHARS
    return Quote(candidate.source, " ".join(text[start:end].split()), start, end)


def best_quote(question: str, passages: Sequence[tuple[int, str]]) -> Quote | None:
    """The best sentence (and the next one) of ``passages`` ((source number, text), best-ranked
    first) for ``question``; None when no sentence shares a content word with it."""
    scored = candidates(question, passages)
    if not scored:
        return None
    best = max(scored, key=lambda c: c.score)
    return quote_from(best) if best.matched else None


def locate(quote: Quote, sources: Sequence[object]) -> Quote | None:
    """The quote with its span in the text of the source it came from, as packed for the model
    (focused, maybe trimmed); None when that source, or the quote within it, is gone."""
    for source in sources:
        if getattr(source, "number", None) != quote.source:
            continue
        text: str = getattr(source, "text", "")
        at = _find_normalised(text, quote.text)
        if at is None:
            return None
        return Quote(quote.source, quote.text, *at)
    return None


def _find_normalised(text: str, wanted: str) -> tuple[int, int] | None:
    """Span of ``wanted`` in ``text`` where runs of whitespace may differ."""
    words = wanted.split()
    if not words:
        return None
    position = 0
    while True:
        start = text.find(words[0], position)
        if start < 0:
            return None
        cursor, ok = start + len(words[0]), True
        for word in words[1:]:
            while cursor < len(text) and text[cursor].isspace():
                cursor += 1
            if not text.startswith(word, cursor):
                ok = False
                break
            cursor += len(word)
        if ok:
            return start, cursor
        position = start + 1
