"""What an ingest run reports: one result per file, the repair report, and the progress hooks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

INDEXED_OUTCOME, UNCHANGED, DUPLICATE, RENAMED, FAILED_OUTCOME = (
    "indexed", "unchanged", "duplicate", "renamed", "failed",
)


@dataclass(frozen=True)
class FileResult:
    """What happened to one file."""

    path: str
    outcome: str
    doc_id: str | None = None
    pages: int = 0
    chunks: int = 0
    empty_pages: int = 0
    problems: tuple[str, ...] = ()
    reason: str | None = None
    size: int = 0

    @property
    def failed(self) -> bool:
        return self.outcome == FAILED_OUTCOME


def counted(n: int, word: str) -> str:
    """'1 page', '12 pages', '1,234 passages'."""
    return f"{n:,} {word if n == 1 else word + 's'}"


# Outcomes in the words of someone who only dropped a file in: the registry's terms stay inside.
_SAME_CONTENT = {
    UNCHANGED: "already in your library (same content)",
    DUPLICATE: "already in your library under another file name (same content)",
    RENAMED: "already in your library (same content; the file was moved or renamed)",
}


def plain_outcome(result: FileResult) -> str:
    """What happened to one file, in plain words ("added: 3 pages, 6 passages")."""
    if result.failed:
        return f"could not be read: {result.reason or 'unknown reason'}"
    if result.outcome == INDEXED_OUTCOME:
        words = f"added: {counted(result.pages, 'page')}, {counted(result.chunks, 'passage')}"
        return words + ("; " + "; ".join(result.problems) if result.problems else "")
    return _SAME_CONTENT.get(result.outcome, result.outcome)


@dataclass
class RepairReport:
    removed_incomplete: list[str] = field(default_factory=list)
    removed_orphan_chunks: int = 0
    dropped_damaged: list[str] = field(default_factory=list)
    rebuilt_lexical: list[str] = field(default_factory=list)
    # The rows were rebuilt for this version's keyword context (not because they were missing).
    new_context: bool = False
    # The keyword indexes' term counts were made (an index from before them): not damage.
    counted_terms: bool = False

    @property
    def empty(self) -> bool:
        return not (self.removed_incomplete or self.removed_orphan_chunks or self.dropped_damaged
                    or self.rebuilt_lexical)


class Progress(Protocol):
    def start(self, files: int, total_bytes: int) -> None: ...
    def parsed(self, path: str, pages: int) -> None: ...
    def embedded(self, chunks: int) -> None: ...
    def ocr(self, path: str, done: int, total: int) -> None:
        """``done`` of the ``total`` scanned pages of ``path`` read (``done`` 0: OCR starts).
        Called from the parse thread, not the one that calls the others."""
    def done(self, result: FileResult) -> None: ...


class NullProgress:
    def start(self, files: int, total_bytes: int) -> None:
        pass

    def parsed(self, path: str, pages: int) -> None:
        pass

    def embedded(self, chunks: int) -> None:
        pass

    def ocr(self, path: str, done: int, total: int) -> None:
        pass

    def done(self, result: FileResult) -> None:
        pass
