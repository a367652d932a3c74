"""PDF bytes to chunks, in a worker process with a memory cap (or in this process).

pypdf is pure Python and would hold the GIL the embedder needs between its torch calls; in a
process of its own it only competes for a core, and a hostile or enormous PDF fails alone.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

from ingest.chunking import MIN_CHUNK_WORD_CHARS, chunk_pages
from ingest.clean import clean_pages
from ingest.errors import NoTextLayer, UnreadablePdf
from ingest.models import Chunk, Page
from ingest.ocr import LOW_CONFIDENCE, OcrOptions
from ingest.pdf import read_pdf
from ingest.triage import triage

log = logging.getLogger(__name__)

# Address space of the parse worker: a hostile or enormous PDF fails alone instead of swapping
# the machine. The largest real filing here (549 pages) needs a small fraction of it.
PARSE_MEMORY_LIMIT = 4 << 30

# (title, page count, chunks, empty page numbers, problems, {OCR'd page: mean confidence})
ParsedDocument = tuple[str, int, list[Chunk], list[int], list[str], dict[int, float]]


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


@dataclass
class _OcrOutcome:
    """What OCR did for one document."""

    texts: dict[int, str] = field(default_factory=dict)  # page number -> OCR text
    confidence: dict[int, float] = field(default_factory=dict)
    timed_out: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    unavailable: str | None = None  # why OCR could not run at all


def _pages(numbers: list[int]) -> str:
    """1-based page numbers for people: "page 2", "pages 2, 5"."""
    shown = ", ".join(str(n + 1) for n in numbers[:10]) + (", ..." if len(numbers) > 10 else "")
    return f"page{'s' if len(numbers) > 1 else ''} {shown}"


def _image_coverage(page) -> float:  # pypdfium2 page -> share of its area under images
    import pypdfium2.raw as pdfium_c

    width, height = page.get_size()
    covered = 0.0
    for obj in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=2):
        left, bottom, right, top = obj.get_bounds()
        covered += max(0.0, min(right, width) - max(left, 0)) * \
            max(0.0, min(top, height) - max(bottom, 0))
    return min(1.0, covered / (width * height)) if width * height else 0.0


def run_ocr(data: bytes, texts: list[str], options: OcrOptions) -> _OcrOutcome:
    """OCR the pages whose text layer ``triage`` rejects (only those), through the cache."""
    import pypdfium2 as pdfium

    from ingest.ocr import (
        OcrFailed,
        OcrTimeout,
        OcrUnavailable,
        check_engine,
        ocr_page,
        render_page,
    )
    from ingest.ocr_cache import OcrCache, page_key

    outcome = _OcrOutcome()
    opened: list[pdfium.PdfDocument] = []  # pypdfium2 opens the file only for a thin page

    def coverage(number: int) -> float:
        if not opened:
            opened.append(pdfium.PdfDocument(data))
        document = opened[0]
        return _image_coverage(document[number]) if number < len(document) else 0.0

    cache = None
    try:
        try:
            picked = [n for n, text in enumerate(texts)
                      if triage(text, lambda n=n: coverage(n)) is not None]
            if not picked:
                return outcome
            if not opened:
                opened.append(pdfium.PdfDocument(data))
        except pdfium.PdfiumError as err:
            log.warning("pdfium cannot open the file for OCR: %s", err)
            return outcome
        document = opened[0]
        picked = [n for n in picked if n < len(document)]
        try:
            check_engine(options.languages, options.tesseract_cmd)
        except OcrUnavailable as err:
            outcome.unavailable = str(err)
            return outcome
        # Tesseract's OpenMP threads spin while they wait: on 2 busy cores a page took 25.4 s
        # with its default and 5.9 s with one thread (docs/DEVELOPMENT.md, "OCR"). The child
        # tesseract inherits this process's environment.
        os.environ.setdefault("OMP_THREAD_LIMIT", "1")
        cache = OcrCache(Path(options.cache_path)) if options.cache_path else None
        doc_id = hashlib.sha256(data).hexdigest()
        started, engine_calls = time.perf_counter(), 0
        for number in picked:
            try:
                image = render_page(document[number], options.dpi)
            except pdfium.PdfiumError as err:
                log.warning("page cannot be rendered for OCR page=%d: %s", number, err)
                outcome.failed.append(number)
                continue
            key = page_key(image, options.dpi, options.languages)
            result = cache.get(key) if cache else None
            if result is None:
                engine_calls += 1
                try:
                    result = ocr_page(image, options.languages, options.timeout_s,
                                      options.tesseract_cmd)
                except OcrTimeout:
                    log.warning("OCR timed out page=%d limit_s=%s", number, options.timeout_s)
                    outcome.timed_out.append(number)
                    continue
                except OcrFailed as err:
                    log.warning("OCR failed page=%d: %s", number, err)
                    outcome.failed.append(number)
                    continue
                except OcrUnavailable as err:
                    outcome.unavailable = str(err)
                    break
                if cache:
                    cache.put(key, result)
            if cache:
                cache.set_page(doc_id, number, key)
            outcome.texts[number] = result.text
            outcome.confidence[number] = result.mean_confidence
        log.info("ocr pages=%d engine_calls=%d seconds=%.1f", len(picked), engine_calls,
                 time.perf_counter() - started)
        return outcome
    finally:
        if cache:
            cache.close()
        for pdf in opened:
            pdf.close()


def parse_document(data: bytes, fallback_title: str, chunk_size: int, chunk_overlap: int,
                   ocr: OcrOptions | None = None) -> ParsedDocument:
    """Bytes of a PDF to (title, page count, chunks, empty page numbers, problems, OCR'd pages
    with their mean confidence). ``ocr``: None reads the text layer only."""
    raw = read_pdf(data, fallback_title)
    texts = [page.text for page in raw.pages]
    outcome = _OcrOutcome()
    if ocr is not None and ocr.enabled:
        outcome = run_ocr(data, texts, ocr)
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


class ParseWorker:
    """Parses documents one at a time in a spawned worker process, restarted after a crash."""

    def __init__(self, chunk_size: int, chunk_overlap: int, use_worker: bool = True,
                 ocr: OcrOptions | None = None) -> None:
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap
        self.ocr = ocr
        self.use_worker = use_worker
        self._pool: ProcessPoolExecutor | None = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def parse(self, data: bytes, fallback_title: str) -> ParsedDocument:
        """One document's parse; a crash or a memory overrun fails this document only."""
        if not self.use_worker:
            return parse_document(data, fallback_title, self.chunk_size, self.chunk_overlap,
                                  self.ocr)
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                1, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker
            )
        try:
            future = self._pool.submit(parse_document, data, fallback_title, self.chunk_size,
                                       self.chunk_overlap, self.ocr)
        except RuntimeError:
            # A script without an `if __name__ == "__main__"` guard cannot spawn workers.
            log.warning("cannot start a parse worker here; parsing in this process instead")
            self.close()
            self.use_worker = False
            return parse_document(data, fallback_title, self.chunk_size, self.chunk_overlap,
                                  self.ocr)
        try:
            return future.result()
        except BrokenProcessPool as err:
            self._pool = None  # the next file gets a fresh worker
            raise UnreadablePdf("the PDF reader crashed on this file: damaged or too large") from err
        except MemoryError as err:
            raise UnreadablePdf(
                f"too large to read within {PARSE_MEMORY_LIMIT >> 30} GiB of memory"
            ) from err
