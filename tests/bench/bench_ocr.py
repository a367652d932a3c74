"""OCR quality and speed against the text layer: scanned copies of covidqa pages.

Every page of the first N covidqa PDFs is rendered as a scanner would make it (grey, ``--scan-dpi``,
JPEG at quality 75), put into an image-only PDF in memory, rendered back with pypdfium2 at each
``--dpi`` and read by Tesseract; the result is compared with the page's own text layer (pypdf,
normalised as ingest normalises it). Nothing is written under the repository.

    python tests/bench/bench_ocr.py --docs 5 --pages 2 --dpi 200 300

Word error rate is word-level edit distance over lowercase words without punctuation; character
error is 1 - (characters difflib matches) / (reference characters), an approximation. Word recall
(the reference's words found in the OCR text, as a multiset) ignores reading order, which an
engine that reads a two-column page line by line across both columns loses in WER only.

``--engines tesseract rapidocr`` compares the project's engine with rapidocr-onnxruntime (PP-OCRv4
models in the wheel) on the same page images in one run, each on one thread (ingest runs one
engine process per core). rapidocr is not a project dependency; its wheel and dependencies go to a
folder of their own, outside the virtual environment:

    pip install --target /tmp/rapidocr-lib --no-deps rapidocr-onnxruntime==1.4.4 pyclipper \
        shapely opencv-python-headless
    PYTHONPATH=/tmp/rapidocr-lib python tests/bench/bench_ocr.py --engines tesseract rapidocr
"""

from __future__ import annotations

import argparse
import difflib
import io
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
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


def word_recall(reference: list[str], hypothesis: list[str]) -> float:
    found = Counter(reference) & Counter(hypothesis)
    return sum(found.values()) / max(1, len(reference))


def rapidocr_reader() -> Callable[[Any], tuple[str, float]]:
    """rapidocr-onnxruntime on one thread: image -> (text, mean confidence in %)."""
    import numpy
    from rapidocr_onnxruntime import RapidOCR

    threads = {f"{part}_{kind}_op_num_threads": 1
               for part in ("det", "cls", "rec") for kind in ("intra", "inter")}
    engine = RapidOCR(**threads)

    def read(image: Any) -> tuple[str, float]:
        lines, _ = engine(numpy.asarray(image.convert("RGB")))
        lines = lines or []
        text = "\n".join(line[1] for line in lines)
        confidence = 100 * statistics.mean(float(line[2]) for line in lines) if lines else 0.0
        return text, confidence

    return read


def tesseract_reader(languages: str) -> Callable[[Any], tuple[str, float]]:
    from ingest.ocr import ocr_page

    def read(image: Any) -> tuple[str, float]:
        page = ocr_page(image, languages)
        return page.text, page.mean_confidence

    return read


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
    parser.add_argument("--engines", nargs="+", default=["tesseract"],
                        choices=["tesseract", "rapidocr"])
    args = parser.parse_args()

    import pypdfium2 as pdfium
    from pypdf import PdfReader

    from ingest.clean import normalize
    from ingest.ocr import check_engine, render_page

    check_engine(args.languages)
    readers = {"tesseract": lambda: tesseract_reader(args.languages), "rapidocr": rapidocr_reader}
    engines = {name: readers[name]() for name in args.engines}
    results: dict[tuple[str, int], list[tuple[float, float, float, float]]] = {
        (name, dpi): [] for name in engines for dpi in args.dpi}
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
                image = render_page(scan[0], dpi)
                for name, read in engines.items():
                    start = time.perf_counter()
                    text, confidence = read(image)
                    seconds = time.perf_counter() - start
                    wer = word_error_rate(words(reference), words(text))
                    cer = char_error(" ".join(words(reference)), " ".join(words(text)))
                    recall = word_recall(words(reference), words(text))
                    results[name, dpi].append((wer, cer, recall, seconds))
                    print(f"{path.name} p{number + 1} {name} dpi={dpi} WER={wer:.3f} "
                          f"CER~{cer:.3f} recall={recall:.3f} conf={confidence:.0f} "
                          f"{seconds:.2f}s", flush=True)
            scan.close()
        original.close()
    print(f"\n{'engine':>10} {'dpi':>5} {'pages':>5} {'WER':>6} {'CER~':>6} {'recall':>6} "
          f"{'s/page':>7} {'pages/s':>7}")
    for (name, dpi), rows in results.items():
        if rows:
            seconds = statistics.mean(r[3] for r in rows)
            means = [statistics.mean(r[i] for r in rows) for i in range(3)]
            print(f"{name:>10} {dpi:>5} {len(rows):>5} {means[0]:>6.3f} {means[1]:>6.3f} "
                  f"{means[2]:>6.3f} {seconds:>7.2f} {1 / seconds:>7.2f}")


if __name__ == "__main__":
    main()
