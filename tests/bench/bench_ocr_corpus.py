"""OCR of whole scanned corpora, side by side in one run (issue 15).

Builds scanned copies of real documents outside the repository (``--work``, default under /tmp):
every page of the 98 covidqa papers and of 3 docugami filings (tables) rendered at ``--scan-dpi``
into image-only PDFs with the same file names, as a *clean* scan (grey, JPEG quality 75) and as a
*noisy* one (Gaussian noise, a rotation of 0.5-1.5 degrees either way, JPEG quality 40). Then:

1. OCR pages/s with 1 and 2 engine processes (``run_ocr``, no cache), arms alternated;
2. a mixed file (text pages + scanned pages): engine calls and engine seconds, its ingest time
   against the same file with every page as text;
3. ingest of each corpus through the real ``Ingestor`` (OCR, embedding, Chroma; a fresh index and
   OCR cache each), pages/s;
4. ``localrag eval`` (the real CLI, hit@4) on covidqa's dev questions over each covidqa corpus,
   on the indexes of step 3 (the CLI finds them unchanged: its time is the questions');
5. character and word error rates of every OCR'd page against the text layer of the same page
   of the original, read back from the OCR cache step 3 filled (no second OCR).

    python tests/bench/bench_ocr_corpus.py --eval-dir ../shared/eval

Rates are lowercase words of letters and digits (punctuation and case ignored): WER is the word
edit distance over the reference's words, CER the character edit distance over the reference's
characters, both exact (Levenshtein), per page, then the median and mean over pages. Pages whose
text layer has under 50 words (figures, references set as images) are not scored.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).parent))

from bench_ocr import char_error_rate, word_error_rate, words  # noqa: E402
from report import emit  # noqa: E402

DOCUGAMI = ["2022 Q3 AAPL.pdf", "2023 Q1 INTC.pdf", "2022 Q3 NVDA.pdf"]  # 3 companies, tables
MIN_REFERENCE_WORDS = 50


def load() -> dict[str, float]:
    one, five, fifteen = os.getloadavg()
    return {"1m": round(one, 2), "5m": round(five, 2), "15m": round(fifteen, 2)}


# -- building the scans ------------------------------------------------------------------------
def scan_image(page: Any, dpi: int, noisy: bool, seed: int) -> Any:
    """One PDF page as a scanner makes it: grey at ``dpi``; noisy adds sensor noise and a
    slightly crooked feed."""
    import numpy as np
    from PIL import Image

    image = page.render(scale=dpi / 72, grayscale=True).to_pil()
    if not noisy:
        return image
    rng = np.random.default_rng(seed)
    angle = float(rng.uniform(0.5, 1.5)) * (1 if rng.random() < 0.5 else -1)
    image = image.rotate(angle, resample=Image.BICUBIC, fillcolor=255)
    pixels = np.asarray(image, dtype=np.float32) + rng.normal(0, 12, (image.height, image.width))
    return Image.fromarray(pixels.clip(0, 255).astype(np.uint8), "L")


def build_scan(source: Path, target: Path, dpi: int, noisy: bool) -> int:
    """``source`` as an image-only PDF at ``target`` (same name); returns its page count."""
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(str(source))
    try:
        seed = int(hashlib.sha256(source.name.encode()).hexdigest()[:8], 16)
        images = [scan_image(document[n], dpi, noisy, seed + n) for n in range(len(document))]
    finally:
        document.close()
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    images[0].save(partial, "PDF", save_all=True, append_images=images[1:], resolution=dpi,
                   quality=40 if noisy else 75)
    partial.rename(target)
    return len(images)


def build_corpora(sources: dict[str, list[Path]], work: Path, dpi: int) -> dict[str, Path]:
    """{corpus name: folder}; files already built are kept."""
    folders: dict[str, Path] = {}
    jobs = []
    for name, files in sources.items():
        for variant in ("clean", "noisy"):
            folder = work / f"{name}-{variant}"
            folders[f"{name}-{variant}"] = folder
            jobs += [(f, folder / f.name, dpi, variant == "noisy") for f in files
                     if not (folder / f.name).exists()]
    started = time.perf_counter()
    with ProcessPoolExecutor(2) as pool:
        for _ in pool.map(build_scan, *zip(*jobs, strict=True)) if jobs else []:
            pass
    print(f"built {len(jobs)} scanned files in {time.perf_counter() - started:.0f} s",
          file=sys.stderr, flush=True)
    return folders


# -- 1. OCR speed, 1 vs 2 engine processes -----------------------------------------------------
def sample_pdf(folder: Path, pages: int) -> tuple[bytes, int]:
    """Up to ``pages`` scanned pages spread evenly over the corpus in ``folder``, as one PDF
    (and how many it holds)."""
    from pypdf import PdfReader, PdfWriter

    readers = [PdfReader(p) for p in sorted(folder.glob("*.pdf"))]
    every = [(r, n) for r in readers for n in range(len(r.pages))]
    step = max(1, len(every) // pages)
    writer = PdfWriter()
    for reader, number in every[::step][:pages]:
        writer.add_page(reader.pages[number])
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue(), len(writer.pages)


def measure_speed(data: bytes, pages: int, repeats: int, worker_arms: list[int]) -> dict:
    from ingest.ocr import OcrOptions
    from ingest.ocr_pages import run_ocr

    runs: dict[int, list[float]] = {w: [] for w in worker_arms}
    for _ in range(repeats):
        for workers in worker_arms:
            started = time.perf_counter()
            outcome = run_ocr(data, [""] * pages, OcrOptions(workers=workers))
            seconds = time.perf_counter() - started
            assert len(outcome.texts) == pages, (outcome.timed_out, outcome.failed)
            runs[workers].append(pages / seconds)
            print(f"speed workers={workers} {pages / seconds:.3f} pages/s load={load()}",
                  file=sys.stderr, flush=True)
    return {str(w): {"pages": pages, "pages_per_s": r, "median": statistics.median(r)}
            for w, r in runs.items()}


# -- 2. a mixed file ---------------------------------------------------------------------------
def timed_tesseract(folder: Path) -> tuple[str, Path]:
    """A tesseract that logs the start and end of each page it reads (seconds)."""
    real = shutil.which("tesseract")
    log = folder / "tesseract-times.log"
    script = folder / "tesseract"
    folder.mkdir(parents=True, exist_ok=True)
    script.write_text(
        "#!/bin/sh\n"
        f'case "$*" in *--list-langs*|*--version*) exec {real} "$@";; esac\n'
        f's=$(date +%s.%N); {real} "$@"; status=$?\n'
        f'echo "$s $(date +%s.%N)" >> {log}\n'
        "exit $status\n")
    script.chmod(0o755)
    return str(script), log


def mixed_check(original: Path, scanned: Path, scanned_pages: list[int], work: Path,
                embedder: Any) -> dict:
    from pypdf import PdfReader, PdfWriter

    from ingest.ocr import OcrOptions
    from ingest.pipeline import Ingestor
    from ingest.registry import Registry
    from ingest.store import VectorStore, open_client

    text_reader, scan_reader = PdfReader(original), PdfReader(scanned)
    writer = PdfWriter()
    for number, page in enumerate(text_reader.pages):
        writer.add_page(scan_reader.pages[number] if number in scanned_pages else page)
    mixed = work / "mixed" / original.name
    mixed.parent.mkdir(parents=True, exist_ok=True)
    with mixed.open("wb") as handle:
        writer.write(handle)
    report: dict[str, Any] = {"file": original.name, "pages": len(text_reader.pages),
                              "scanned_pages": [n + 1 for n in scanned_pages]}
    # The first ingest of a process pays the parse worker's start and the model's first batch:
    # a warm-up, so neither arm carries them.
    for label, path in (("warm-up", original), ("text", original), ("mixed", mixed)):
        data_dir = work / "mixed-data" / label
        shutil.rmtree(data_dir, ignore_errors=True)
        command, times = timed_tesseract(data_dir)
        store = VectorStore(open_client(data_dir / "index"), embedder)
        ingestor = Ingestor(Registry(data_dir / "registry.sqlite3"), store, embedder, 600, 100,
                            ocr=OcrOptions(cache_path=str(data_dir / "ocr.sqlite3"),
                                           tesseract_cmd=command))
        started = time.perf_counter()
        [result] = ingestor.ingest([path])
        seconds = time.perf_counter() - started
        ingestor.close()
        calls = [tuple(map(float, line.split())) for line in
                 (times.read_text().splitlines() if times.exists() else [])]
        if label == "warm-up":
            continue
        report[label] = {"ingest_s": round(seconds, 2), "engine_calls": len(calls),
                         "engine_s": round(sum(end - start for start, end in calls), 2),
                         "chunks": result.chunks, "problems": list(result.problems)}
    return report


# -- 3./4. ingest and localrag eval ------------------------------------------------------------
def ingest_corpus(settings: Any, folder: Path, embedder: Any) -> tuple[dict, Path]:
    from app.components import eval_settings, open_ingestor

    isolated = eval_settings(settings, folder)
    shutil.rmtree(isolated.data_dir, ignore_errors=True)  # cold: no index, no OCR cache
    ingestor = open_ingestor(isolated, embedder)
    load_before = load()
    started = time.perf_counter()
    results = ingestor.ingest([folder])
    seconds = time.perf_counter() - started
    ingestor.close()
    pages = sum(r.pages for r in results)
    ocr_pages = sum(int(p.split(" of ")[0]) for r in results for p in r.problems
                    if "pages read by OCR" in p)
    row = {"files": len(results), "failed": [r.path for r in results if r.failed],
           "pages": pages, "ocr_pages": ocr_pages, "chunks": sum(r.chunks for r in results),
           "seconds": round(seconds, 1), "pages_per_s": round(pages / seconds, 3),
           "load_before": load_before, "load_after": load()}
    print(f"ingest {folder.name}: {row}", file=sys.stderr, flush=True)
    return row, isolated.ocr_cache_path


def localrag_eval(questions: Path, folder: Path, data_dir: Path, out: Path) -> dict:
    env = dict(os.environ, LOCALRAG_DATA_DIR=str(data_dir), PYTHONPATH=str(REPO),
               HF_HUB_OFFLINE="1")
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "app.cli", "eval", str(questions), "--docs",
                    str(folder), "-k", "4", "--out", str(out)], env=env, cwd=REPO, check=True,
                   stdout=subprocess.DEVNULL)
    summary = json.loads(out.with_suffix(".summary.json").read_text())["localrag"]
    return {"scored": summary["scored"], "hit@4": round(summary["hit@4"]["mean"], 3),
            "hit@4_ci95": [round(v, 3) for v in summary["hit@4"]["ci95"]],
            "mrr@10": round(summary["mrr@10"]["mean"], 3),
            "seconds": round(time.perf_counter() - started, 1)}


# -- 5. error rates against the text layer -----------------------------------------------------
def _page_errors(reference: str, hypothesis: str) -> tuple[float, float, int]:
    ref, hyp = words(reference), words(hypothesis)
    return word_error_rate(ref, hyp), char_error_rate(" ".join(ref), " ".join(hyp)), len(ref)


def error_rates(originals: Path, scans: Path, cache_path: Path) -> dict:
    """Per page: OCR text (from the OCR cache the ingest filled) against the original's text
    layer as ingest reads it (pypdf, normalised)."""
    from ingest.clean import normalize
    from ingest.pdf import read_pdf

    # The cache's own tables: (document sha256, page) -> result. Read-only here.
    db = sqlite3.connect(f"file:{cache_path}?mode=ro", uri=True)
    pairs, confidences = [], []
    for scan in sorted(scans.glob("*.pdf")):
        doc_id = hashlib.sha256(scan.read_bytes()).hexdigest()
        ocr = {page: (text, conf) for page, text, conf in db.execute(
            "SELECT p.page, r.text, r.confidence FROM pages p JOIN results r ON r.key = p.key "
            "WHERE p.doc_id = ?", (doc_id,))}
        original = originals / scan.name
        raw = read_pdf(original.read_bytes(), original.stem)
        for page in raw.pages:
            reference = normalize(page.text)
            if len(words(reference)) < MIN_REFERENCE_WORDS:
                continue
            text, conf = ocr.get(page.number, ("", 0.0))  # not OCR'd (timed out): all missed
            pairs.append((reference, text))
            confidences.append(conf)
    db.close()
    with ProcessPoolExecutor(2) as pool:
        rows = list(pool.map(_page_errors, *zip(*pairs, strict=True), chunksize=8))
    wer = [r[0] for r in rows]
    cer = [r[1] for r in rows]
    weighted_wer = sum(r[0] * r[2] for r in rows) / sum(r[2] for r in rows)
    return {"pages_scored": len(rows), "wer_median": round(statistics.median(wer), 4),
            "wer_mean": round(statistics.mean(wer), 4), "wer_pooled": round(weighted_wer, 4),
            "cer_median": round(statistics.median(cer), 4),
            "cer_mean": round(statistics.mean(cer), 4),
            "wer_p90": round(sorted(wer)[int(0.9 * (len(wer) - 1))], 4),
            "confidence_mean": round(statistics.mean(confidences), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--eval-dir", type=Path, default=REPO.parent / "shared" / "eval")
    parser.add_argument("--work", type=Path, default=Path("/tmp/localrag-ocr-bench"))
    parser.add_argument("--scan-dpi", type=int, default=300)
    parser.add_argument("--speed-pages", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--docs", type=int, default=0, help="only the first N covidqa papers")
    parser.add_argument("--out", type=Path, default=REPO / "bench-results" / "ocr_corpus.json")
    args = parser.parse_args()

    from pypdf import PdfReader

    from app.components import open_embedder
    from ingest.ocr import check_engine
    from ingest.settings import Settings

    check_engine()
    covidqa = args.eval_dir / "covidqa"
    papers = sorted((covidqa / "pdfs").glob("*.pdf"))[: args.docs or None]
    filings = [args.eval_dir / "docugami_sec10q" / "pdfs" / name for name in DOCUGAMI]
    report: dict[str, Any] = {"started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                              "cores": os.cpu_count(), "scan_dpi": args.scan_dpi,
                              "load_start": load()}
    folders = build_corpora({"covidqa": papers, "docugami": filings}, args.work, args.scan_dpi)
    folders["covidqa-text"], folders["docugami-text"] = args.work / "covidqa-text", \
        args.work / "docugami-text"
    for name, files in (("covidqa-text", papers), ("docugami-text", filings)):
        folders[name].mkdir(parents=True, exist_ok=True)
        for f in files:
            if not (folders[name] / f.name).exists():
                shutil.copy(f, folders[name] / f.name)

    report["ocr_speed"] = measure_speed(*sample_pdf(folders["covidqa-clean"], args.speed_pages),
                                        args.repeats, [1, 2])
    settings = Settings(data_dir=args.work / "data")
    embedder = open_embedder(settings)
    # The first paper long enough to hide two scanned pages between text pages.
    example = next((p for p in papers if len(PdfReader(p).pages) >= 6), papers[0])
    scanned_pages = [1, 3] if len(PdfReader(example).pages) >= 4 else [0]
    report["mixed"] = mixed_check(example, folders["covidqa-clean"] / example.name,
                                  scanned_pages, args.work, embedder)

    report["ingest"], caches = {}, {}
    for name in ("covidqa-text", "covidqa-clean", "covidqa-noisy", "docugami-text",
                 "docugami-clean", "docugami-noisy"):
        report["ingest"][name], caches[name] = ingest_corpus(settings, folders[name], embedder)
    report["eval"] = {}
    for name in ("covidqa-text", "covidqa-clean", "covidqa-noisy"):
        report["eval"][name] = localrag_eval(covidqa / "questions_dev.jsonl", folders[name],
                                             args.work / "data", args.work / f"{name}.jsonl")
        print(f"eval {name}: {report['eval'][name]}", file=sys.stderr, flush=True)
    report["errors"] = {}
    for name in ("covidqa-clean", "covidqa-noisy", "docugami-clean", "docugami-noisy"):
        text = folders[name.split("-")[0] + "-text"]
        report["errors"][name] = error_rates(text, folders[name], caches[name])
        print(f"errors {name}: {report['errors'][name]}", file=sys.stderr, flush=True)
    report["load_end"] = load()
    emit(report, args.out)


if __name__ == "__main__":
    main()
