"""PDF bytes to chunks, in a worker process with a memory cap (or in this process).

pypdf is pure Python and would hold the GIL the embedder needs between its torch calls; in a
process of its own it only competes for a core, and a hostile or enormous PDF fails alone.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import os
import queue
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from ingest.chunking import MIN_CHUNK_WORD_CHARS, chunk_pages
from ingest.clean import clean_pages
from ingest.errors import NoTextLayer, UnreadablePdf
from ingest.models import Chunk, Page
from ingest.ocr import LOW_CONFIDENCE, OcrOptions
from ingest.ocr_pages import OcrOutcome, OcrPageReport, run_ocr
from ingest.pdf import read_pdf

log = logging.getLogger(__name__)

# Address space of the parse worker: a hostile or enormous PDF fails alone instead of swapping
# the machine. The largest real filing here (549 pages) needs a small fraction of it.
PARSE_MEMORY_LIMIT = 4 << 30

# (title, page count, chunks, empty page numbers, problems, {OCR'd page: mean confidence})
ParsedDocument = tuple[str, int, list[Chunk], list[int], list[str], dict[int, float]]


# The parse worker's end of the queue its OCR progress goes to the parent by (set at its start).
_ocr_events: Any = None


def _start_worker(ocr_events: Any = None) -> None:
    """Cap the parse worker's memory, and end it with its parent.

    A worker outlives a SIGKILLed parent (its task queue holds a write end of its own pipe, so
    it never sees end-of-file) and would sit there for good, holding the parent's stdout; the
    parent's sentinel pipe does close, so a thread blocked on it notices at no cost.
    """
    import multiprocessing
    import resource

    global _ocr_events
    _ocr_events = ocr_events
    resource.setrlimit(resource.RLIMIT_AS, (PARSE_MEMORY_LIMIT, PARSE_MEMORY_LIMIT))
    parent = multiprocessing.parent_process()
    if parent is not None:
        def exit_with_parent() -> None:
            parent.join()
            os._exit(1)

        threading.Thread(target=exit_with_parent, name="localrag-parent-watch", daemon=True).start()


def _send_ocr_progress(job: int, done: int, total: int) -> None:
    """In the parse worker: one OCR page event for the parent (tagged with its parse job, so a
    late event of a finished document is never shown as the next one's)."""
    if _ocr_events is not None:
        _ocr_events.put((job, done, total))


def _pages(numbers: list[int]) -> str:
    """1-based page numbers for people: "page 2", "pages 2, 5"."""
    shown = ", ".join(str(n + 1) for n in numbers[:10]) + (", ..." if len(numbers) > 10 else "")
    return f"page{'s' if len(numbers) > 1 else ''} {shown}"


def parse_document(data: bytes, fallback_title: str, chunk_size: int, chunk_overlap: int,
                   ocr: OcrOptions | None = None,
                   on_ocr_page: OcrPageReport | None = None) -> ParsedDocument:
    """Bytes of a PDF to (title, page count, chunks, empty page numbers, problems, OCR'd pages
    with their mean confidence). ``ocr``: None reads the text layer only; ``on_ocr_page(done,
    total)`` follows the OCR of the document's scanned pages."""
    raw = read_pdf(data, fallback_title)
    texts = [page.text for page in raw.pages]
    outcome = OcrOutcome()
    if ocr is not None and ocr.enabled:
        outcome = run_ocr(data, texts, ocr, on_ocr_page)
        for number, text in outcome.texts.items():
            texts[number] = text
        for number in outcome.timed_out + outcome.failed:
            texts[number] = ""  # a cid or garbage layer is no better than nothing: "not indexed"
    cleaned = clean_pages(texts)
    pages = [Page(page.number, text) for page, text in zip(raw.pages, cleaned, strict=True)]
    empty = [p.number for p in pages if sum(ch.isalnum() for ch in p.text) < MIN_CHUNK_WORD_CHARS]
    read_by_ocr = {n: c for n, c in outcome.confidence.items() if n not in empty}
    total = len(pages)
    if ocr is None:
        why = "scanned? OCR not available"
    elif not ocr.enabled:
        why = "scanned? OCR is off (LOCALRAG_OCR=true reads them)"
    elif outcome.unavailable:
        why = f"scanned? {outcome.unavailable}"
    else:
        why = "blank? OCR found none either"
    problems = []
    if outcome.timed_out:
        limit = ocr.timeout_s if ocr else 0
        problems.append(f"OCR took longer than {limit:g} s on {_pages(outcome.timed_out)}: "
                        "not indexed")
    if outcome.failed:
        problems.append(f"OCR failed on {_pages(outcome.failed)}: not indexed")
    if len(empty) == total:
        raise NoTextLayer(f"no text on any of its {total} pages: {why}"
                          + (f" ({'; '.join(problems)})" if problems else ""))
    if read_by_ocr:
        mean = sum(read_by_ocr.values()) / len(read_by_ocr)
        problems.insert(0, f"{len(read_by_ocr)} of {total} pages read by OCR "
                           f"(confidence {mean:.0f} %)")
        low = sorted(n for n, c in read_by_ocr.items() if c < LOW_CONFIDENCE)
        if low:
            problems.append(f"low OCR confidence (under {LOW_CONFIDENCE:.0f} %) on {_pages(low)}: "
                            "check the scan")
    unreadable = [n for n in raw.unreadable_pages if n not in read_by_ocr]
    if unreadable:
        problems.append(f"{len(unreadable)} of {total} pages could not be read")
    scanned = len([n for n in empty if n not in unreadable and n not in outcome.timed_out
                   and n not in outcome.failed])
    if scanned > 0:
        problems.append(f"{scanned} of {total} pages have no text: {why}")
    chunks = chunk_pages(pages, chunk_size, chunk_overlap)
    return raw.title, total, chunks, empty, problems, read_by_ocr


def _never_raising(report: OcrPageReport) -> OcrPageReport:
    """A progress display that fails must not fail the document it reports on."""
    def guarded(done: int, total: int) -> None:
        try:
            report(done, total)
        except Exception:
            log.exception("OCR progress report failed")

    return guarded


class ParseWorker:
    """Parses documents one at a time in a spawned worker process, restarted after a crash.

    The worker's OCR page events come back through a multiprocessing queue given to it at its
    start (a queue cannot travel with a task); ``parse`` relays them while it waits.
    """

    def __init__(self, chunk_size: int, chunk_overlap: int, use_worker: bool = True,
                 ocr: OcrOptions | None = None) -> None:
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap
        self.ocr = ocr
        self.use_worker = use_worker
        self._pool: ProcessPoolExecutor | None = None
        self._events: Any = None
        self._jobs = 0

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
        if self._events is not None:
            self._events.close()
            self._events = None

    def parse(self, data: bytes, fallback_title: str,
              on_ocr_page: OcrPageReport | None = None) -> ParsedDocument:
        """One document's parse; a crash or a memory overrun fails this document only.
        ``on_ocr_page(done, total)`` is called as its scanned pages are read (in this thread, or
        in the OCR threads when parsing in this process); if it fails, the parse goes on."""
        on_ocr_page = _never_raising(on_ocr_page) if on_ocr_page else None
        if not self.use_worker:
            return parse_document(data, fallback_title, self.chunk_size, self.chunk_overlap,
                                  self.ocr, on_ocr_page)
        if self._pool is None:
            context = multiprocessing.get_context("spawn")
            self._events = context.Queue()
            self._pool = ProcessPoolExecutor(1, mp_context=context, initializer=_start_worker,
                                             initargs=(self._events,))
        self._jobs += 1
        try:
            future = self._pool.submit(parse_document, data, fallback_title, self.chunk_size,
                                       self.chunk_overlap, self.ocr,
                                       functools.partial(_send_ocr_progress, self._jobs))
        except RuntimeError:
            # A script without an `if __name__ == "__main__"` guard cannot spawn workers.
            log.warning("cannot start a parse worker here; parsing in this process instead")
            self.close()
            self.use_worker = False
            return parse_document(data, fallback_title, self.chunk_size, self.chunk_overlap,
                                  self.ocr, on_ocr_page)
        self._relay_ocr_events(future, self._jobs, on_ocr_page)
        try:
            return future.result()
        except BrokenProcessPool as err:
            self._pool = None  # the next file gets a fresh worker
            if self._events is not None:
                self._events.close()
                self._events = None
            raise UnreadablePdf("the PDF reader crashed on this file: damaged or too large") from err
        except MemoryError as err:
            raise UnreadablePdf(
                f"too large to read within {PARSE_MEMORY_LIMIT >> 30} GiB of memory"
            ) from err

    def _relay_ocr_events(self, future: Future[ParsedDocument], job: int,
                          on_ocr_page: OcrPageReport | None) -> None:
        """Pass the worker's OCR events for ``job`` to ``on_ocr_page`` until the parse ends (a
        sentinel this process puts on the same queue; polling would add its interval to every
        file's parse)."""
        events = self._events
        future.add_done_callback(lambda _: events.put((job, None, None)))
        while True:
            try:
                event_job, done, total = events.get(timeout=1.0)
            except queue.Empty:
                if future.done():
                    return
                continue
            if event_job != job:
                continue  # a late event of an earlier document
            if done is None:
                return
            if on_ocr_page is not None:
                on_ocr_page(done, total)
