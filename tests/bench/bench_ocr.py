"""OCR quality and speed against the text layer: scanned copies of covidqa pages.

Every page of the first N covidqa PDFs is rendered as a scanner would make it (grey, ``--scan-dpi``,
JPEG at quality 75), put into an image-only PDF in memory, rendered back with pypdfium2 at each
``--dpi`` and read by Tesseract; the result is compared with the page's own text layer (pypdf,
normalised as ingest normalises it). Nothing is written under the repository.

    python tests/bench/bench_ocr.py --docs 5 --pages 2 --dpi 200 300

Word error rate is word-level edit distance over lowercase words without punctuation; character
error is 1 - (characters difflib matches) / (reference characters), an approximation.
"""

from __future__ import annotations

import argparse
import difflib
import io
import re
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
PDFS = REPO.parent / "shared" / "eval" / "covidqa" / "pdfs"
_WORD = re.compile(r"[^\W_]+")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def edit_distance(reference: Sequence[Any], hypothesis: Sequence[Any]) -> int:
    """Levenshtein distance, one numpy row at a time: within a row, the chain of insertions is
    a running minimum of (cost - column) plus the column, so no Python loop over columns (a
    5,000-character page in about 0.1 s instead of minutes)."""
    import numpy as np

    if not reference or not hypothesis:
        return len(reference) + len(hypothesis)
    codes: dict[Any, int] = {}
    ref = np.array([codes.setdefault(t, len(codes)) for t in reference])
    hyp = np.array([codes.setdefault(t, len(codes)) for t in hypothesis])
    column = np.arange(len(hyp) + 1)
    previous = column.copy()
    current = np.empty_like(previous)
    for i, token in enumerate(ref, start=1):
        current[0] = i
        np.minimum(previous[1:] + 1, previous[:-1] + (hyp != token), out=current[1:])
        previous = np.minimum.accumulate(current - column) + column
    return int(previous[-1])


def word_error_rate(reference: list[str], hypothesis: list[str]) -> float:
    return edit_distance(reference, hypothesis) / max(1, len(reference))


def char_error_rate(reference: str, hypothesis: str) -> float:
    """Exact character error rate: edit distance over the reference's characters."""
    return edit_distance(reference, hypothesis) / max(1, len(reference))


def char_error(reference: str, hypothesis: str) -> float:
    matcher = difflib.SequenceMatcher(None, reference, hypothesis, autojunk=False)
    matched = sum(block.size for block in matcher.get_matching_blocks())
    return 1 - matched / max(1, len(reference))


def scanned_copy(page, scan_dpi: int):
    """One page as an image-only PDF page (pypdfium2), the way a 'scan' of it looks."""
    import pypdfium2 as pdfium
    from PIL import Image

    image = page.render(scale=scan_dpi / 72, grayscale=True).to_pil()
    jpeg = io.BytesIO()
    image.save(jpeg, "JPEG", quality=75)
    pdf = io.BytesIO()
    Image.open(jpeg).save(pdf, "PDF", resolution=scan_dpi)
    return pdfium.PdfDocument(pdf.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=5)
    parser.add_argument("--pages", type=int, default=2, help="pages per document (0: all)")
    parser.add_argument("--dpi", type=int, nargs="+", default=[200, 300])
    parser.add_argument("--scan-dpi", type=int, default=300)
    parser.add_argument("--languages", default="eng")
    args = parser.parse_args()

    import pypdfium2 as pdfium
    from pypdf import PdfReader

    from ingest.clean import normalize
    from ingest.ocr import check_engine, ocr_page, render_page

    check_engine(args.languages)
    results: dict[int, list[tuple[float, float, float]]] = {dpi: [] for dpi in args.dpi}
    for path in sorted(PDFS.glob("*.pdf"))[: args.docs]:
        reader = PdfReader(path)
        original = pdfium.PdfDocument(str(path))
        count = len(original) if args.pages == 0 else min(args.pages, len(original))
        for number in range(count):
            reference = normalize(reader.pages[number].extract_text() or "")
            if len(words(reference)) < 50:
                continue
            scan = scanned_copy(original[number], args.scan_dpi)
            for dpi in args.dpi:
                start = time.perf_counter()
                page = ocr_page(render_page(scan[0], dpi), args.languages)
                seconds = time.perf_counter() - start
                wer = word_error_rate(words(reference), words(page.text))
                cer = char_error(" ".join(words(reference)), " ".join(words(page.text)))
                results[dpi].append((wer, cer, seconds))
                print(f"{path.name} p{number + 1} dpi={dpi} WER={wer:.3f} CER~{cer:.3f} "
                      f"conf={page.mean_confidence:.0f} {seconds:.2f}s", flush=True)
            scan.close()
        original.close()
    print(f"\n{'dpi':>5} {'pages':>5} {'WER':>6} {'CER~':>6} {'s/page':>7} {'pages/s':>7}")
    for dpi, rows in results.items():
        if rows:
            seconds = statistics.mean(r[2] for r in rows)
            print(f"{dpi:>5} {len(rows):>5} {statistics.mean(r[0] for r in rows):>6.3f} "
                  f"{statistics.mean(r[1] for r in rows):>6.3f} {seconds:>7.2f} {1 / seconds:>7.2f}")


if __name__ == "__main__":
    main()
