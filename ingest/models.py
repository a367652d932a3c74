"""Frozen records for the data that flows through ingestion."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Page:
    """Text of one PDF page. ``number`` is 0-based, as pypdf numbers pages."""

    number: int
    text: str


@dataclass(frozen=True)
class Chunk:
    """A span of one cleaned page.

    ``char_start``/``char_end`` index into the cleaned text of ``page``, so a UI can locate
    the passage on the page.
    """

    page: int
    index: int
    char_start: int
    char_end: int
    text: str


@dataclass(frozen=True)
class ParsedDocument:
    """What a PDF yields before embedding."""

    title: str
    page_count: int
    chunks: tuple[Chunk, ...]
    empty_pages: tuple[int, ...] = ()
    problems: tuple[str, ...] = field(default_factory=tuple)
