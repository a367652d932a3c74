"""The OCR component: a page image in, its text and word boxes out (Tesseract, Apache-2.0).

Tesseract runs through pytesseract, which calls the ``tesseract`` binary from Debian's
``tesseract-ocr`` package: nothing to compile, a hung or crashing engine is a child process that
a timeout kills (pytesseract's ``timeout``), and languages are Debian's data packages. pytesseract
is imported here, lazily, and nowhere else.
"""

from __future__ import annotations

import logging
import math
import os
import re
from dataclasses import dataclass, field
from typing import Any

from ingest.errors import LocalragError

log = logging.getLogger(__name__)

INSTALL_HINT = "install tesseract-ocr (apt-get install tesseract-ocr tesseract-ocr-eng)"
# Chosen by tests/bench/bench_ocr_dpi.py on generated scans (docs/DEVELOPMENT.md, "OCR").
DEFAULT_DPI = 200
# A page rendered beyond this many pixels is rendered smaller: a 200 x 200 inch poster page
# at 200 dpi would be 1.6 G pixels. 40 M pixels (grey, one byte each) is an A0 page at 200 dpi.
MAX_PIXELS = 40_000_000
LOW_CONFIDENCE = 60.0  # mean word confidence (0-100) under which a page is listed as a problem

# (text, left, top, right, bottom, confidence): box as fractions of the page (0-1, from its
# top-left corner), so it holds at any render scale; confidence 0-100.
Word = tuple[str, float, float, float, float, float]


class OcrUnavailable(LocalragError):
    """The OCR engine (or a language it was asked for) is not installed."""


class OcrTimeout(LocalragError):
    """The engine took longer than the per-page limit on one page."""


class OcrFailed(LocalragError):
    """The engine crashed or refused one page."""


@dataclass(frozen=True)
class OcrPage:
    """What OCR read on one page: text in reading order (one line per line), word boxes, and
    the mean word confidence (0-100; 0 with no words)."""

    text: str
    words: tuple[Word, ...]
    mean_confidence: float


@dataclass(frozen=True)
class OcrOptions:
    """How the parse worker runs OCR (plain, picklable values from ``Settings``)."""

    enabled: bool = True
    languages: str = "eng"
    timeout_s: float = 60.0
    dpi: int = DEFAULT_DPI
    cache_path: str | None = None  # the OCR cache's SQLite file; None: no cache
    tesseract_cmd: str = "tesseract"
    # Engine processes at once, one per core: each runs single-threaded (OMP_THREAD_LIMIT=1).
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)


def _pytesseract(tesseract_cmd: str) -> Any:
    try:
        import pytesseract
    except ImportError as err:
        raise OcrUnavailable("OCR not available: install pytesseract (pip install pytesseract)"
                             ) from err
    pytesseract.pytesseract.tesseract_cmd = tesseract_cmd
    # Tesseract's OpenMP threads spin while they wait: on 2 busy cores a page took 25.4 s with
    # its default and 5.9 s with one thread (docs/DEVELOPMENT.md, "OCR"); the cores are used by
    # running one single-threaded engine per core instead. The limit goes to the engine's
    # environment only (pytesseract hands its module-level `environ` to every call): set in
    # os.environ, it capped torch in the same process at one thread when torch was imported
    # after the first OCR (embedding at half speed).
    pytesseract.pytesseract.environ = {
        **os.environ, "OMP_THREAD_LIMIT": os.environ.get("OMP_THREAD_LIMIT", "1")}
    return pytesseract


def check_engine(languages: str = "eng", tesseract_cmd: str = "tesseract") -> None:
    """Raise ``OcrUnavailable`` (with the install command) unless the engine and every language
    of ``languages`` ("eng+deu") are installed."""
    pytesseract = _pytesseract(tesseract_cmd)
    try:
        installed = set(pytesseract.get_languages(config=""))
    except (pytesseract.TesseractNotFoundError, OSError) as err:
        raise OcrUnavailable(f"OCR not available: {INSTALL_HINT}") from err
    except pytesseract.TesseractError as err:
        raise OcrUnavailable(f"OCR not available: tesseract does not run ({err})") from err
    missing = [lang for lang in languages.split("+") if lang and lang not in installed]
    if missing:
        packages = " ".join(f"tesseract-ocr-{lang}" for lang in missing)
        raise OcrUnavailable(f"OCR not available: language {'+'.join(missing)} is not installed "
                             f"(apt-get install {packages})")


def ocr_page(image: Any, languages: str = "eng", timeout_s: float = 60.0,
             tesseract_cmd: str = "tesseract") -> OcrPage:
    """Read one page image (PIL) with Tesseract.

    Raises:
        OcrUnavailable: the binary is missing. OcrTimeout: over ``timeout_s``. OcrFailed: the
        engine failed on this image.
    """
    pytesseract = _pytesseract(tesseract_cmd)
    try:
        data = pytesseract.image_to_data(image, lang=languages, timeout=timeout_s,
                                         output_type=pytesseract.Output.DICT)
    except pytesseract.TesseractNotFoundError as err:
        raise OcrUnavailable(f"OCR not available: {INSTALL_HINT}") from err
    except RuntimeError as err:  # pytesseract's timeout is a bare RuntimeError
        if "timeout" in str(err).lower():
            raise OcrTimeout(f"OCR took longer than {timeout_s:g} s") from err
        raise OcrFailed(f"OCR failed: {err}") from err
    except pytesseract.TesseractError as err:
        raise OcrFailed(f"OCR failed: {err.message or err.status}") from err
    return _page_from_data(data, *image.size)


_SPACE = re.compile(r"\s+")


def _page_from_data(data: dict[str, list[Any]], width: int, height: int) -> OcrPage:
    """pytesseract's ``image_to_data`` table (one row per block, paragraph, line and word) to
    lines of text and word boxes as page fractions."""
    lines: dict[tuple[int, int, int], list[str]] = {}
    words: list[Word] = []
    for i, raw in enumerate(data["text"]):
        text = _SPACE.sub(" ", str(raw)).strip()
        conf = float(data["conf"][i])
        if not text or conf < 0:  # conf -1: a block, paragraph or line row, not a word
            continue
        key = (int(data["block_num"][i]), int(data["par_num"][i]), int(data["line_num"][i]))
        lines.setdefault(key, []).append(text)
        left, top = int(data["left"][i]), int(data["top"][i])
        words.append((text, left / width, top / height, (left + int(data["width"][i])) / width,
                      (top + int(data["height"][i])) / height, conf))
    mean = sum(w[5] for w in words) / len(words) if words else 0.0
    return OcrPage("\n".join(" ".join(line) for line in lines.values()), tuple(words), mean)


def render_scale(width: float, height: float, dpi: int, max_pixels: int = MAX_PIXELS) -> float:
    """Pixels per point for a ``width`` x ``height`` point page at ``dpi``, lowered so the image
    has at most ``max_pixels`` pixels (pdfium rounds each side up, hence the whole-pixel check)."""
    scale = dpi / 72
    if width * height * scale * scale > max_pixels:
        scale = (max_pixels / (width * height)) ** 0.5
        while math.ceil(width * scale) * math.ceil(height * scale) > max_pixels:
            scale *= 0.999
    return scale


def render_page(page: Any, dpi: int) -> Any:
    """A pypdfium2 page as a grey PIL image at ``dpi``, shrunk to at most ``MAX_PIXELS``. Word
    boxes are fractions of the image, so they stay right on the page at any scale."""
    width, height = page.get_size()
    scale = render_scale(width, height, dpi)
    if scale < dpi / 72:
        log.info("page render shrunk to bound memory dpi=%.0f asked=%d", scale * 72, dpi)
    return page.render(scale=scale, grayscale=True).to_pil()
