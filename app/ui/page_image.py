"""A PDF page rendered as an image with a passage's location marked, so a user can check a
citation against the page itself (pypdfium2: Apache-2.0/BSD)."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
RENDER_SCALE = 1.5
PROBE_WORDS = 5
HIGHLIGHT = (255, 214, 0, 90)
OUTLINE = (230, 120, 0, 255)


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


def render_page(pdf_path: Path, page_index: int, passage: str = "") -> Any:
    """The page as a PIL image, the passage's location shaded and outlined when found."""
    import pypdfium2 as pdfium
    from PIL import Image, ImageDraw

    document = pdfium.PdfDocument(str(pdf_path))
    try:
        page = document[page_index]
        image = page.render(scale=RENDER_SCALE).to_pil().convert("RGBA")
        if passage:
            _, height = page.get_size()
            textpage = page.get_textpage()
            # A translucent layer composited over the page keeps the text readable under the mark.
            layer = Image.new("RGBA", image.size, (0, 0, 0, 0))
            draw = ImageDraw.Draw(layer)
            for left, bottom, right, top in passage_rects(textpage, passage):
                box = (left * RENDER_SCALE, (height - top) * RENDER_SCALE,
                       right * RENDER_SCALE, (height - bottom) * RENDER_SCALE)
                draw.rectangle(box, fill=HIGHLIGHT, outline=OUTLINE)
            image = Image.alpha_composite(image, layer)
        return image.convert("RGB")
    finally:
        document.close()
