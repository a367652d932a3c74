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


@dataclass(frozen=True)
class PageView:
    """A page as PNG bytes, and where the passage is on it as fractions of the page (left, top,
    width, height), so the browser can shade it at any zoom."""

    png: bytes
    page_index: int
    page_count: int
    boxes: list[tuple[float, float, float, float]]


def page_view(pdf_path: Path, page_index: int, passages: Sequence[str] = (),
              scale: float = 2.0) -> PageView:
    """Page ``page_index`` of the PDF rendered at ``scale`` (1.0 = 72 dpi), with the boxes of
    each of ``passages``. A page index out of range is clamped: previous/next never run past
    the ends."""
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
        buffer = io.BytesIO()
        page.render(scale=scale).to_pil().convert("RGB").save(buffer, format="PNG", optimize=False)
        return PageView(buffer.getvalue(), index, count, boxes)
    finally:
        document.close()
