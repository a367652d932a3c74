"""Pure functions of the chain: numbered sources, context packing within the model's window,
follow-up rewriting prompts and citation mapping. No I/O, no model: everything here is testable
with plain values."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

Message = tuple[str, str]  # (role, content): role is "system", "user" or "assistant"

REFUSAL = "I could not find this in your documents."
# Template tokens each chat message costs beyond its text (role headers, end markers).
MESSAGE_OVERHEAD_TOKENS = 8
# A source trimmed below this many tokens tells the model too little to be worth its slot.
MIN_SOURCE_TOKENS = 60
# History may take at most this share of what is left after the answer reserve.
HISTORY_SHARE = 0.25


@dataclass(frozen=True)
class Source:
    """A retrieved passage as the model sees it: numbered, labelled with file and page."""

    number: int
    file: str
    page: int  # 0-based, as stored; shown 1-based
    text: str
    path: str = ""
    score: float = 0.0
    similarity: float = 0.0
    title: str = ""  # the document's title (PDF metadata or first heading); "" if none

    @property
    def label(self) -> str:
        return f"{self.file} p.{self.page + 1}"


def number_sources(hits: Sequence) -> list[Source]:
    """Sources [1]..[n] from retrieval hits (anything with file, page, text, path, score)."""
    return [Source(i, h.file, h.page, h.text, h.path, h.score, getattr(h, "similarity", 0.0),
                   getattr(h, "title", "") or "") for i, h in enumerate(hits, start=1)]


def focus(text: str, query: str, max_chars: int, anchor: tuple[int, int] | None = None) -> str:
    """The ``max_chars`` window of a passage with the most words of the question, cut at word
    boundaries: a small model answers better, and starts sooner, from a short focused source
    than from a whole page. With ``anchor`` (a span of ``text``: the quote), the window holds
    that span whole, widened to it if need be, with some context before it."""
    if anchor is not None:
        max_chars = max(max_chars, anchor[1] - anchor[0] + 2)
    if len(text) <= max_chars:
        return text
    if anchor is not None:
        best_start = max(0, anchor[0] - (max_chars - (anchor[1] - anchor[0])) // 4)
    else:
        best_start = _densest_start(text, query, max_chars)
    start = min(best_start, len(text) - max_chars)
    end = start + max_chars
    keep_from, keep_to = anchor if anchor is not None else (end, start)
    if start > 0:
        space = text.find(" ", start)
        start = space + 1 if 0 <= space < min(start + 40, keep_from) else start
    if end < len(text):
        space = text.rfind(" ", max(start, keep_to), end)
        end = space if space > end - 40 else end
    return ("… " if start > 0 else "") + text[start:end].strip() + (" …" if end < len(text) else "")


def _densest_start(text: str, query: str, max_chars: int) -> int:
    from app.highlight import marked_spans

    hits, position = [], 0
    for piece, matched in marked_spans(text, query):
        if matched:
            hits.append(position)
        position += len(piece)
    best_start, best_count = 0, -1
    for start in [0, *(max(0, h - max_chars // 4) for h in hits)]:
        count = sum(start <= h < start + max_chars for h in hits)
        if count > best_count:
            best_start, best_count = start, count
    return best_start


def focus_sources(sources: Sequence[Source], query: str, budgets: Sequence[int],
                  anchors: dict[int, tuple[int, int]] | None = None) -> list[Source]:
    """Each source cut to its budget of characters (best first; past the list, its last); a
    source with an anchor (by number) keeps that span whole."""
    anchors = anchors or {}
    return [replace(s, text=focus(s.text, query, budgets[min(i, len(budgets) - 1)],
                                  anchors.get(s.number))) for i, s in enumerate(sources)]


def format_sources(sources: Sequence[Source]) -> str:
    # The labels stay: without them the 0.5B model lost the thread of a follow-up in 2 of 3 test
    # runs. A label the model copies into its answer makes that sentence unsupported (its file
    # name is no word of the source): dropping such labels changed how the 0.5B model follows
    # a conversation, so it waits for a measurement.
    return "\n\n".join(f"[{s.number}] {s.file}, page {s.page + 1}:\n{s.text}" for s in sources)


def user_prompt(sources: Sequence[Source], question: str) -> str:
    return (f"Sources:\n\n{format_sources(sources)}\n\nQuestion: {question}\n\n"
            # The wording of before, kept: a terser one ("End each sentence with its source
            # number, like [2].") made the 0.5B model answer "[1] [2] [3]", and repeating the
            # refusal sentence here (the system prompt has it) made both models refuse answerable
            # questions (3 of the first 9 covidqa ones, docs/BENCHMARKS.md).
            "Answer the question in one to three full sentences, using only these sources. Put "
            "the number of the source in brackets after each sentence, like [1].")


@dataclass
class PackedPrompt:
    messages: list[Message]
    sources: list[Source]
    prompt_tokens: int
    dropped_sources: list[Source] = field(default_factory=list)
    trimmed_sources: list[int] = field(default_factory=list)
    dropped_turns: int = 0

    @property
    def complete(self) -> bool:
        return not (self.dropped_sources or self.trimmed_sources or self.dropped_turns)


def _trim_to(text: str, tokens: int, count_tokens: Callable[[str], int]) -> str:
    """The longest prefix (cut at a word) of ``text`` within ``tokens``."""
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if count_tokens(text[:middle]) <= tokens:
            low = middle
        else:
            high = middle - 1
    cut = text[:low]
    space = cut.rfind(" ")
    return (cut[:space] if space > len(cut) // 2 else cut).rstrip() + " …"


def pack_prompt(
    system: str,
    sources: Sequence[Source],
    history: Sequence[Message],
    question: str,
    num_ctx: int,
    answer_tokens: int,
    count_tokens: Callable[[str], int],
) -> PackedPrompt:
    """Fit system prompt + history + sources + question inside ``num_ctx`` minus the answer's
    reserve. Sources are kept in rank order; the first that does not fit is trimmed if enough
    room is left, the rest are dropped; old turns go first. Nothing is cut silently: what was left
    out is in the result for the caller to log and show."""
    budget = num_ctx - answer_tokens
    fixed = (count_tokens(system) + count_tokens(user_prompt([], question))
             + 2 * MESSAGE_OVERHEAD_TOKENS)
    if fixed > budget:
        raise ValueError(f"the question alone needs {fixed} tokens; the model's window leaves "
                         f"{budget} after the answer's {answer_tokens}")
    room = budget - fixed

    kept_turns: list[Message] = []
    history_room = int(room * HISTORY_SHARE)
    for message in reversed(history):
        cost = count_tokens(message[1]) + MESSAGE_OVERHEAD_TOKENS
        if cost > history_room:
            break
        kept_turns.insert(0, message)
        history_room -= cost
    # Never start the kept history with an answer whose question was dropped.
    while kept_turns and kept_turns[0][0] != "user":
        kept_turns.pop(0)
    room -= sum(count_tokens(m[1]) + MESSAGE_OVERHEAD_TOKENS for m in kept_turns)

    kept: list[Source] = []
    dropped: list[Source] = []
    trimmed: list[int] = []
    for source in sources:
        if dropped:
            dropped.append(source)
            continue
        cost = count_tokens(format_sources([source])) + 2
        if cost <= room:
            kept.append(source)
            room -= cost
        elif room - 20 >= MIN_SOURCE_TOKENS:
            header = count_tokens(format_sources([replace(source, text="")])) + 4
            text = _trim_to(source.text, room - header - 4, count_tokens)
            kept.append(replace(source, text=text))
            trimmed.append(source.number)
            room = 0
        else:
            dropped.append(source)

    messages: list[Message] = [("system", system), *kept_turns, ("user", user_prompt(kept, question))]
    used = sum(count_tokens(m[1]) + MESSAGE_OVERHEAD_TOKENS for m in messages)
    return PackedPrompt(messages, kept, used, dropped, trimmed, len(history) - len(kept_turns))


# ---------------------------------------------------------------- follow-up questions

_FOLLOW_UP_START = re.compile(
    r"^(and|but|also|so|then|what about|how about|and what|same|why|how come)\b", re.I
)
_ANAPHORA = re.compile(
    r"\b(it|its|it's|they|them|their|this|that|these|those|he|she|his|her|there|the same|"
    r"the former|the latter|above|previous|earlier)\b", re.I
)
SELF_CONTAINED_WORDS = 7


def needs_rewrite(question: str, history: Sequence[Message]) -> bool:
    """Whether a question depends on the conversation. A rewrite costs a model call, so a
    question with no history, or a long one with no back-reference, goes to retrieval as is."""
    if not any(role == "user" for role, _ in history):
        return False
    words = re.findall(r"\w+", question)
    if _FOLLOW_UP_START.search(question.strip()) or _ANAPHORA.search(question):
        return True
    return len(words) < SELF_CONTAINED_WORDS


REWRITE_SYSTEM = (
    "You rewrite the user's last question into one standalone question that can be understood "
    "without the conversation, keeping names, dates and numbers. Reply with the question only."
)


def rewrite_messages(question: str, history: Sequence[Message], max_turns: int = 4) -> list[Message]:
    recent = [m for m in history if m[0] in ("user", "assistant")][-2 * max_turns:]
    transcript = "\n".join(f"{role}: {_strip_markers(content)[:600]}" for role, content in recent)
    return [("system", REWRITE_SYSTEM),
            ("user", f"Conversation:\n{transcript}\n\nLast question: {question}\n\n"
                     "Standalone question:")]


def clean_rewrite(text: str, question: str) -> str:
    """The model's rewrite, or the original question when the rewrite is unusable."""
    line = next((ln.strip() for ln in text.strip().splitlines() if ln.strip()), "")
    line = re.sub(r"^(standalone question|question)\s*:\s*", "", line, flags=re.I).strip(" \"'`")
    if not line or len(line) > 4 * len(question) + 200:
        return question
    return line


# ---------------------------------------------------------------- citations

MARKER = re.compile(r"\[(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\]")
_PARTIAL_MARKER = re.compile(r"\[[\d,;\s]{0,15}$")


def _strip_markers(text: str) -> str:
    return MARKER.sub("", text)


def _resolve_marker(body: str, valid: set[int]) -> tuple[str, list[int], int]:
    numbers = [int(n) for n in re.split(r"\s*[,;]\s*", body.strip())]
    good = [n for n in numbers if n in valid]
    marker = "".join(f"[{n}]" for n in dict.fromkeys(good))
    return marker, good, len(numbers) - len(good)


class CitationFilter:
    """Streams text through, holding back a possible ``[n]`` marker until it closes, so a
    marker that points nowhere is removed before anyone sees it."""

    def __init__(self, source_numbers: set[int]) -> None:
        self.valid = source_numbers
        self.held = ""
        self.removed = 0
        self.cited: list[int] = []

    def feed(self, text: str) -> str:
        out = []
        for char in text:
            if self.held:
                self.held += char
                match = MARKER.fullmatch(self.held)
                if match:
                    marker, good, bad = _resolve_marker(match.group(1), self.valid)
                    self.removed += bad
                    self.cited.extend(n for n in good if n not in self.cited)
                    out.append(marker)
                    self.held = ""
                elif not _PARTIAL_MARKER.fullmatch(self.held):
                    out.append(self.held)
                    self.held = ""
            elif char == "[":
                self.held = char
            else:
                out.append(char)
        return "".join(out)

    def flush(self) -> str:
        held, self.held = self.held, ""
        return held


@dataclass
class CitedAnswer:
    text: str
    cited: list[Source]
    removed_markers: int
    refused: bool


def resolve_citations(text: str, sources: Sequence[Source]) -> CitedAnswer:
    """Map ``[n]`` markers in the model's text to sources; drop and count those that point
    nowhere; tidy the spaces they leave."""
    citation_filter = CitationFilter({s.number for s in sources})
    cleaned = citation_filter.feed(text) + citation_filter.flush()
    cleaned = re.sub(r"[ \t]+([.,;:])", r"\1", re.sub(r"[ \t]{2,}", " ", cleaned)).strip()
    by_number = {s.number: s for s in sources}
    return CitedAnswer(cleaned, [by_number[n] for n in citation_filter.cited],
                       citation_filter.removed, is_refusal(cleaned))


def is_refusal(text: str) -> bool:
    flat = " ".join(text.lower().split())
    return flat.startswith(REFUSAL.lower()[:-1]) or (
        len(flat) < 200 and ("could not find" in flat or "not in your documents" in flat
                             or "do not contain" in flat or "don't contain" in flat))
