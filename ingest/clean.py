"""Pure text repair for extracted PDF pages.

Real filings and papers come out of pypdf with ligatures (U+FB00-FB04), words hyphenated across
line ends, and running headers, footers and page numbers repeated on every page. Left in, the
repeated lines dominate chunks and embeddings of short pages; hyphenated words miss lexical search.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence

# How many lines at each edge of a page are candidates for running headers/footers.
EDGE_LINES = 2
# A line is "running" when it appears at the edge of this share of pages.
REPEAT_SHARE = 0.4
MIN_REPEATS = 3
# Only short lines can be a header or footer carrying a page number ("Annual Report | Page 7").
PAGE_NUMBER_LINE_MAX_CHARS = 60

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_HYPHEN_BREAK = re.compile(r"(?<=[^\W\d_])-[ \t]*\n[ \t]*(?=[a-z])")
_SPACES = re.compile(r"[ \t\u00a0]+")
_BLANK_RUNS = re.compile(r"\n{3,}")
_DIGITS = re.compile(r"\d+")
_ROMAN = r"(?=[ivxlc]+\b)c{0,3}(?:xc|xl|l?x{0,3})(?:ix|iv|v?i{0,3})"
_PAGE_NUMBER = re.compile(
    r"^(?:[Pp]age\s*)?[-–—(\[]?\s*(?:\d{1,3}|" + _ROMAN + r")\s*[-–—)\]]?"
    r"(?:\s*(?:of|/)\s*\d{1,4})?$"
)


def normalize(text: str) -> str:
    """NFKC (splits ligatures), drops control characters, folds runs of spaces, trims lines."""
    text = unicodedata.normalize("NFKC", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub(" ", text)
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return "\n".join(lines)


def join_hyphenated(text: str) -> str:
    """Re-join ``exam-\\nple`` into ``example``; keeps ``COVID-\\n19`` as ``COVID-19``."""
    text = _HYPHEN_BREAK.sub("", text)
    return re.sub(r"(?<=\w)-\n(?=\d)", "-", text)


def _edge_key(line: str) -> str:
    return _DIGITS.sub("#", line.lower())


def _edge_lines(lines: list[str]) -> list[int]:
    nonblank = [i for i, line in enumerate(lines) if line]
    return sorted(set(nonblank[:EDGE_LINES] + nonblank[-EDGE_LINES:]))


def _signatures(line: str, page_index: int) -> set[str]:
    """Ways a line can repeat across pages: verbatim, or with a number that moves with the page.

    "Annual Report 2023 - page 7" on page index 6 yields ``annual report # - page #@1``: the number
    minus the page index is constant on every page, which body text does not do.
    """
    key = _edge_key(line)
    found = {"=" + line.lower()}
    if len(line) > PAGE_NUMBER_LINE_MAX_CHARS:
        return found
    for number in _DIGITS.findall(line):
        if len(number) <= 5:
            found.add(f"{key}@{int(number) - page_index}")
    return found


def running_lines(pages: Sequence[str]) -> set[str]:
    """Signatures of edge lines that repeat across enough pages to be headers or footers."""
    if len(pages) < MIN_REPEATS:
        return set()
    counts: Counter[str] = Counter()
    for index, text in enumerate(pages):
        lines = text.split("\n")
        signatures: set[str] = set()
        for i in _edge_lines(lines):
            signatures |= _signatures(lines[i], index)
        counts.update(signatures)
    threshold = max(MIN_REPEATS, int(REPEAT_SHARE * len(pages)))
    return {key for key, n in counts.items() if n >= threshold}


def strip_edges(text: str, running: set[str], page_index: int) -> str:
    """Remove running header/footer lines and bare page numbers at a page's edges."""
    lines = text.split("\n")
    drop = {
        i
        for i in _edge_lines(lines)
        if _signatures(lines[i], page_index) & running or _PAGE_NUMBER.match(lines[i])
    }
    return "\n".join(line for i, line in enumerate(lines) if i not in drop)


def clean_pages(pages: Sequence[str]) -> list[str]:
    """Clean every page of one document; running lines are detected across all its pages."""
    normalized = [join_hyphenated(normalize(text)) for text in pages]
    running = running_lines(normalized)
    cleaned = (strip_edges(text, running, i) for i, text in enumerate(normalized))
    return [_BLANK_RUNS.sub("\n\n", text).strip() for text in cleaned]
