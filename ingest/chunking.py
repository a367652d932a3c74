"""Pure chunking of cleaned pages into overlapping spans that never cross a page.

Chunks stay inside one page so that every chunk cites exactly one page. Breaks are taken at the
strongest boundary in the last part of the window (paragraph, line, sentence, word), so chunks rarely
split a sentence. Offsets are kept so the UI can locate a passage on its page.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence

from ingest.models import Chunk, Page

# Break preferences, strongest first; each pattern's match end is the break position.
_BOUNDARIES = (
    re.compile(r"\n\s*\n"),
    re.compile(r"\n"),
    re.compile(r"[.!?;:][\"')\]]?\s"),
    re.compile(r"\s"),
)
# In a table, the end of a row: a line ending in a figure, before a line starting a label. A
# pypdf table row is one line ("Purchases of property 1,577 1,373") or a label followed by its
# figures on lines of their own; either way a break here keeps the row with its label.
_ROW_END = re.compile(r"(?<=[\d)%—–])[ \t]*\n(?=[ \t]*\(?[A-Za-z])")
_TABLE_BOUNDARIES = (_ROW_END, *_BOUNDARIES)
# A window is a table when at least this share of its lines (and three) end in a figure; prose
# windows keep the prose breaks, so their chunks are what they were before rows were kept whole.
_TABLE_LINE_SHARE, _TABLE_MIN_ROWS = 0.5, 3
_FIGURE_END = re.compile(r"[\d)%—–]\s*$")
# A break is only taken in the last part of the window, so chunks stay near the target size.
_MIN_FILL = 0.5
# Fewer word characters than this and a page (or tail) carries nothing worth indexing.
MIN_CHUNK_WORD_CHARS = 3


def _word_chars(text: str) -> int:
    return sum(ch.isalnum() for ch in text)


def _tabular(text: str, start: int, end: int) -> bool:
    """Whether the window's complete lines are mostly rows of figures (its last line, cut by
    the window, does not count)."""
    lines = [line for line in text[start:end].split("\n")[:-1] if line.strip()]
    figures = sum(1 for line in lines if _FIGURE_END.search(line))
    return figures >= _TABLE_MIN_ROWS and figures >= _TABLE_LINE_SHARE * len(lines)


def _break_at(text: str, start: int, limit: int, size: int) -> int:
    """Position in ``(start, limit]`` to end a chunk, at the strongest boundary available
    (in a table, the end of a row)."""
    if limit >= len(text):
        return len(text)
    window_from = start + int(size * _MIN_FILL)
    boundaries = _TABLE_BOUNDARIES if _tabular(text, start, limit) else _BOUNDARIES
    for pattern in boundaries:
        last = None
        for match in pattern.finditer(text, window_from, limit):
            last = match
        if last is not None:
            return last.end()
    return limit


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def _overlap_start(text: str, end: int, overlap: int, start: int) -> int:
    """Start of the next chunk: ``overlap`` characters back from ``end``, moved to a word start
    (in a table, to the first row that starts there, so no chunk opens with a row's figures cut
    from its label)."""
    if overlap <= 0:
        return _skip_space(text, end)
    pos = max(start + 1, end - overlap)
    if _tabular(text, start, end):
        # No row starts within the overlap: the next chunk starts where this one ended, at a
        # row (the break is a row's end), rather than inside one.
        row = _ROW_END.search(text, pos, end)
        return _skip_space(text, row.end() if row is not None and row.end() < end else end)
    while pos > start + 1 and not text[pos - 1].isspace():
        pos -= 1
    if pos <= start + 1:
        return _skip_space(text, end)
    return _skip_space(text, pos)


def split_text(text: str, size: int, overlap: int) -> Iterator[tuple[int, int]]:
    """Yield ``(start, end)`` spans of ``text`` of at most ``size`` characters.

    Args:
        text: cleaned page text.
        size: maximum characters per span.
        overlap: characters repeated between consecutive spans (rounded to a word start).
    """
    if size <= 0:
        raise ValueError("chunk size must be positive")
    if not 0 <= overlap < size:
        raise ValueError("chunk overlap must be at least 0 and smaller than the chunk size")
    start = _skip_space(text, 0)
    while start < len(text):
        end = _break_at(text, start, start + size, size)
        span_end = end
        while span_end > start and text[span_end - 1].isspace():
            span_end -= 1
        if span_end > start:
            yield start, span_end
        if end >= len(text):
            return
        nxt = _overlap_start(text, end, overlap, start)
        start = nxt if nxt > start else _skip_space(text, end)


def chunk_pages(pages: Iterable[Page], size: int, overlap: int) -> list[Chunk]:
    """Chunk every page; chunks are numbered in document order."""
    chunks: list[Chunk] = []
    for page in pages:
        for start, end in split_text(page.text, size, overlap):
            piece = page.text[start:end]
            if _word_chars(piece) < MIN_CHUNK_WORD_CHARS:
                continue
            chunks.append(Chunk(page.number, len(chunks), start, end, piece))
    return chunks


_NAME_SEPARATORS = re.compile(r"[_\-.]+")


OPENING_CHARS = 1500
# Bumped whenever document_context changes: indexes built with another recipe get their keyword
# rows rebuilt from the stored chunks (no re-embedding) on the next repair.
CONTEXT_RECIPE = "title+name+opening1500|filing+page+period"


def document_opening(chunks: Sequence[Chunk]) -> str:
    """The text of a document's first page with text (its chunks in index order)."""
    ordered = sorted(chunks, key=lambda c: c.index)
    if not ordered:
        return ""
    first = ordered[0].page
    return " ".join(c.text for c in ordered if c.page == first)


def document_context(title: str, file_name: str, opening: str = "") -> str:
    """What every chunk of a document carries about it: its title, its file name's words and the
    opening of its first page (where a filing names the company and a paper its title).

    Questions name the company, filing or paper ("Activision Blizzard's FY2019 ..."), while the
    passage that answers them rarely repeats it ("the Company").
    """
    stem = file_name.rsplit(".", 1)[0] if file_name.lower().endswith(".pdf") else file_name
    name_words = _NAME_SEPARATORS.sub(" ", stem).strip()
    title = " ".join(title.split())  # one line: a chunk's page context follows on the next
    parts = [title] if title else []
    if name_words and name_words.lower() not in title.lower():
        parts.append(name_words)
    head = " ".join(opening.split())[:OPENING_CHARS]
    if head:
        parts.append(head)
    return " | ".join(parts)


def indexed_text(context: str, text: str) -> str:
    """The text that is embedded for a chunk: its document context, then the passage."""
    return f"{context}\n{text}" if context else text
