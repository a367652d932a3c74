"""PDF bytes to chunks, in a worker process with a memory cap (or in this process).

pypdf is pure Python and would hold the GIL the embedder needs between its torch calls; in a
process of its own it only competes for a core, and a hostile or enormous PDF fails alone.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from ingest.chunking import MIN_CHUNK_WORD_CHARS, chunk_pages
from ingest.clean import clean_pages
from ingest.errors import NoTextLayer, UnreadablePdf
from ingest.models import Chunk, Page
from ingest.pdf import read_pdf

log = logging.getLogger(__name__)

# Address space of the parse worker: a hostile or enormous PDF fails alone instead of swapping
# the machine. The largest real filing here (549 pages) needs a small fraction of it.
PARSE_MEMORY_LIMIT = 4 << 30

# (title, page count, chunks, empty page numbers, problems)
ParsedDocument = tuple[str, int, list[Chunk], list[int], list[str]]


def _start_worker() -> None:
    """Cap the parse worker's memory, and end it with its parent.

    A worker outlives a SIGKILLed parent (its task queue holds a write end of its own pipe, so
    it never sees end-of-file) and would sit there for good, holding the parent's stdout; the
    parent's sentinel pipe does close, so a thread blocked on it notices at no cost.
    """
    import multiprocessing
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (PARSE_MEMORY_LIMIT, PARSE_MEMORY_LIMIT))
    parent = multiprocessing.parent_process()
    if parent is not None:
        def exit_with_parent() -> None:
            parent.join()
            os._exit(1)

        threading.Thread(target=exit_with_parent, name="localrag-parent-watch", daemon=True).start()


def parse_document(data: bytes, fallback_title: str, chunk_size: int, chunk_overlap: int
                   ) -> ParsedDocument:
    """Bytes of a PDF to (title, page count, chunks, empty page numbers, problems)."""
    raw = read_pdf(data, fallback_title)
    cleaned = clean_pages([page.text for page in raw.pages])
    pages = [Page(page.number, text) for page, text in zip(raw.pages, cleaned, strict=True)]
    empty = [p.number for p in pages if sum(ch.isalnum() for ch in p.text) < MIN_CHUNK_WORD_CHARS]
    total = len(pages)
    if len(empty) == total:
        raise NoTextLayer(f"no text on any of its {total} pages: scanned? OCR not available")
    problems = []
    if raw.unreadable_pages:
        problems.append(f"{len(raw.unreadable_pages)} of {total} pages could not be read")
    scanned = len(empty) - len(raw.unreadable_pages)
    if scanned > 0:
        problems.append(f"{scanned} of {total} pages have no text: scanned? OCR not available")
    chunks = chunk_pages(pages, chunk_size, chunk_overlap)
    return raw.title, total, chunks, empty, problems


class ParseWorker:
    """Parses documents one at a time in a spawned worker process, restarted after a crash."""

    def __init__(self, chunk_size: int, chunk_overlap: int, use_worker: bool = True) -> None:
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap
        self.use_worker = use_worker
        self._pool: ProcessPoolExecutor | None = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def parse(self, data: bytes, fallback_title: str) -> ParsedDocument:
        """One document's parse; a crash or a memory overrun fails this document only."""
        if not self.use_worker:
            return parse_document(data, fallback_title, self.chunk_size, self.chunk_overlap)
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                1, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker
            )
        try:
            future = self._pool.submit(parse_document, data, fallback_title, self.chunk_size,
                                       self.chunk_overlap)
        except RuntimeError:
            # A script without an `if __name__ == "__main__"` guard cannot spawn workers.
            log.warning("cannot start a parse worker here; parsing in this process instead")
            self.close()
            self.use_worker = False
            return parse_document(data, fallback_title, self.chunk_size, self.chunk_overlap)
        try:
            return future.result()
        except BrokenProcessPool as err:
            self._pool = None  # the next file gets a fresh worker
            raise UnreadablePdf("the PDF reader crashed on this file: damaged or too large") from err
        except MemoryError as err:
            raise UnreadablePdf(
                f"too large to read within {PARSE_MEMORY_LIMIT >> 30} GiB of memory"
            ) from err
