"""Reading a document's scanned pages: which pages (``triage``), rendering them one at a time
and reading them with one Tesseract process per core, through the OCR cache.

Runs in the parse worker (``ingest.parsing``); a page that times out or fails is recorded and
the others are read.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ingest.ocr import OcrOptions, OcrPage
from ingest.triage import triage

log = logging.getLogger(__name__)


@dataclass
class OcrOutcome:
    """What OCR did for one document."""

    texts: dict[int, str] = field(default_factory=dict)  # page number -> OCR text
    confidence: dict[int, float] = field(default_factory=dict)
    timed_out: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    unavailable: str | None = None  # why OCR could not run at all


def image_coverage(page) -> float:  # pypdfium2 page -> share of its area under images
    import pypdfium2.raw as pdfium_c

    width, height = page.get_size()
    covered = 0.0
    for obj in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=2):
        left, bottom, right, top = obj.get_bounds()
        covered += max(0.0, min(right, width) - max(left, 0)) * \
            max(0.0, min(top, height) - max(bottom, 0))
    return min(1.0, covered / (width * height)) if width * height else 0.0


OcrPageReport = Callable[[int, int], None]  # (pages done, pages to OCR) of one document


def run_ocr(data: bytes, texts: list[str], options: OcrOptions,
            on_page: OcrPageReport | None = None) -> OcrOutcome:
    """OCR the pages whose text layer ``triage`` rejects (only those), through the cache, with
    ``options.workers`` engine processes at once. ``on_page(done, total)`` is called once with
    ``done`` 0 when OCR starts and after each page (from the OCR threads)."""
    import pypdfium2 as pdfium

    from ingest.ocr import OcrUnavailable, check_engine

    outcome = OcrOutcome()
    opened: list[pdfium.PdfDocument] = []  # pypdfium2 opens the file only for a thin page

    def coverage(number: int) -> float:
        if not opened:
            opened.append(pdfium.PdfDocument(data))
        document = opened[0]
        return image_coverage(document[number]) if number < len(document) else 0.0

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
        _PageReader(document, options, on_page).read(picked, hashlib.sha256(data).hexdigest(),
                                                      outcome)
        return outcome
    finally:
        for pdf in opened:
            pdf.close()


class _PageReader:
    """Renders picked pages one at a time (pdfium is not thread-safe) and reads them with up to
    ``options.workers`` engine processes at once, through the cache.

    The work is in the tesseract child processes, so threads around the pytesseract calls are
    enough to use every core. At most ``workers + 1`` rendered pages are alive at once (one
    waiting while each worker reads one): a 200 dpi letter page is 3.7 M grey pixels, a page at
    the render cap 40 M, so memory does not grow with the document.
    """

    def __init__(self, document, options: OcrOptions, on_page: OcrPageReport | None) -> None:
        self.document = document
        self.options = options
        self.on_page = on_page
        self.workers = max(1, options.workers)
        self.slots = threading.BoundedSemaphore(self.workers + 1)
        self.lock = threading.Lock()  # the cache's connection and the pages-done count
        self.stopped = threading.Event()  # the engine vanished: read no further page
        self.done = self.total = 0

    def _page_done(self) -> None:
        with self.lock:  # reported under the lock, so the counts arrive in order
            self.done += 1
            if self.on_page is not None:
                self.on_page(self.done, self.total)

    def _recognise(self, rendered: list, key: str, cache) -> OcrPage:
        """Read the one image in ``rendered`` (taken out of it, so once this page is read
        nothing holds it and its slot can go to the next render)."""
        from ingest.ocr import OcrUnavailable, ocr_page

        image = rendered.pop()
        try:
            if self.stopped.is_set():
                raise OcrUnavailable("OCR stopped: the engine is not available")
            options = self.options
            try:
                result = ocr_page(image, options.languages, options.timeout_s,
                                  options.tesseract_cmd)
            except OcrUnavailable:
                self.stopped.set()
                raise
            finally:
                del image
            if cache is not None:
                with self.lock:
                    cache.put(key, result)
            return result
        finally:
            self.slots.release()
            self._page_done()

    def read(self, picked: list[int], doc_id: str, outcome: OcrOutcome) -> None:
        import pypdfium2 as pdfium

        from ingest.ocr import OcrFailed, OcrTimeout, OcrUnavailable, render_page
        from ingest.ocr_cache import OcrCache, page_key

        options = self.options
        cache = OcrCache(Path(options.cache_path)) if options.cache_path else None
        self.total = len(picked)
        if self.on_page is not None:
            self.on_page(0, self.total)
        started, engine_calls = time.perf_counter(), 0
        pending: dict[int, tuple[str, OcrPage | Future[OcrPage]]] = {}  # in page order
        try:
            with ThreadPoolExecutor(self.workers, thread_name_prefix="localrag-ocr") as pool:
                for number in picked:
                    if self.stopped.is_set():
                        break
                    self.slots.acquire()
                    try:
                        image = render_page(self.document[number], options.dpi)
                    except pdfium.PdfiumError as err:
                        log.warning("page cannot be rendered for OCR page=%d: %s", number, err)
                        outcome.failed.append(number)
                        self.slots.release()
                        self._page_done()
                        continue
                    key = page_key(image, options.dpi, options.languages)
                    with self.lock:
                        cached = cache.get(key) if cache else None
                    rendered = [image]
                    del image  # from here ``rendered`` holds the only reference
                    if cached is not None:
                        pending[number] = (key, cached)
                        rendered.clear()
                        self.slots.release()
                        self._page_done()
                        continue
                    engine_calls += 1
                    pending[number] = (key, pool.submit(self._recognise, rendered, key, cache))
                    del rendered
            for number, (key, item) in pending.items():
                try:
                    result = item.result() if isinstance(item, Future) else item
                except OcrTimeout:
                    log.warning("OCR timed out page=%d limit_s=%s", number, options.timeout_s)
                    outcome.timed_out.append(number)
                    continue
                except OcrFailed as err:
                    log.warning("OCR failed page=%d: %s", number, err)
                    outcome.failed.append(number)
                    continue
                except OcrUnavailable as err:
                    outcome.unavailable = outcome.unavailable or str(err)
                    break
                if cache:
                    cache.set_page(doc_id, number, key)
                outcome.texts[number] = result.text
                outcome.confidence[number] = result.mean_confidence
            outcome.failed.sort()
            log.info("ocr pages=%d engine_calls=%d workers=%d seconds=%.1f", len(picked),
                     engine_calls, self.workers, time.perf_counter() - started)
        finally:
            if cache:
                cache.close()
