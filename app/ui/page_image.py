"""A PDF page rendered as an image, with where a passage lies on it, so a user can check a
citation against the page itself (pypdfium2: Apache-2.0/BSD)."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
PROBE_WORDS = 5


def _probes(passage: str) -> list[tuple[int, str]]:
    """(word offset, short phrase) to look for: cleaned text differs from the PDF's raw text
    (joined hyphenation, ligatures), so several short phrases give several chances."""
    words = re.findall(r"\S+", passage)
    return [(i, " ".join(words[i : i + PROBE_WORDS]))
            for i in range(0, max(1, len(words) - PROBE_WORDS + 1), PROBE_WORDS * 3)][:8]


def passage_rects(textpage: Any, passage: str) -> list[tuple[float, float, float, float]]:
    """PDF-space rectangles (left, bottom, right, top) covering ``passage`` on the page."""
    total = textpage.count_chars()
    for word_offset, probe in _probes(passage):
        if len(probe) < 8:
            continue
        found = textpage.search(probe, match_case=False).get_next()
        if not found:
            continue
        start, _ = found
        # Characters of the passage before the probe were skipped: start earlier by about that.
        before = len(" ".join(passage.split()[:word_offset]))
        start = max(0, start - before)
        count = min(len(passage), total - start)
        rect_count = textpage.count_rects(start, count)
        return [textpage.get_rect(i) for i in range(rect_count)]
    return []


def _token(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


# A passage counts as found among a page's OCR words when this share of its words lines up with
# them in order (the chunk text is the OCR text after cleaning: joined hyphenation, NFKC).
OCR_MATCH_SHARE = 0.6


def ocr_word_boxes(words: Sequence[Sequence[Any]], passage: str
                   ) -> list[tuple[float, float, float, float]]:
    """Boxes (left, top, width, height; fractions of the page) over the OCR words that
    ``passage`` was read from, one per line of the page. ``words``: (text, left, top, right,
    bottom, confidence) with page fractions, in reading order, as ``ingest.ocr`` stores them."""
    import difflib

    wanted = [t for t in (_token(w) for w in passage.split()) if t]
    page = [_token(str(w[0])) for w in words]
    if not wanted or not page:
        return []
    matcher = difflib.SequenceMatcher(None, page, wanted, autojunk=False)
    blocks = [b for b in matcher.get_matching_blocks() if b.size >= 2 or len(wanted) < 4]
    blocks = [b for b in blocks if b.size]
    if sum(b.size for b in blocks) < OCR_MATCH_SHARE * len(wanted):
        return []
    boxes: list[list[float]] = []  # [left, top, right, bottom] per line
    for index in range(blocks[0].a, blocks[-1].a + blocks[-1].size):
        left, top, right, bottom = (float(v) for v in words[index][1:5])
        line = boxes[-1] if boxes else None
        # Same line: vertical overlap with the previous word's line, and to its right.
        if line and left >= line[0] and top < line[3] and bottom > line[1]:
            line[1], line[2], line[3] = min(line[1], top), max(line[2], right), \
                max(line[3], bottom)
        else:
            boxes.append([left, top, right, bottom])
    return [(left, top, right - left, bottom - top) for left, top, right, bottom in boxes]


@dataclass(frozen=True)
class PageView:
    """A page as PNG bytes, and where the passage is on it as fractions of the page (left, top,
    width, height), so the browser can shade it at any zoom."""

    png: bytes
    page_index: int
    page_count: int
    boxes: list[tuple[float, float, float, float]]


def page_view(pdf_path: Path, page_index: int, passages: Sequence[str] = (),
              scale: float = 2.0, ocr_words: Sequence[Sequence[Any]] = ()) -> PageView:
    """Page ``page_index`` of the PDF rendered at ``scale`` (1.0 = 72 dpi), with the boxes of
    each of ``passages``. A page index out of range is clamped: previous/next never run past
    the ends. ``ocr_words``: the page's OCR words (``ingest.ocr.Word``), where a scanned
    page's passages are found when its text layer has none of them."""
    import io

    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(str(pdf_path))
    try:
        count = len(document)
        index = min(max(page_index, 0), count - 1)
        page = document[index]
        width, height = page.get_size()
        boxes = []
        textpage = page.get_textpage() if passages else None
        for passage in passages:
            for left, bottom, right, top in passage_rects(textpage, passage):
                boxes.append((left / width, (height - top) / height, (right - left) / width,
                              (top - bottom) / height))
        if not boxes and ocr_words:
            for passage in passages:
                boxes.extend(ocr_word_boxes(ocr_words, passage))
        buffer = io.BytesIO()
        page.render(scale=scale).to_pil().convert("RGB").save(buffer, format="PNG", optimize=False)
        return PageView(buffer.getvalue(), index, count, boxes)
    finally:
        document.close()
