"""Embedding speed by numeric path, side by side in one run on the same chunk texts (issue 17).

The texts are what ingest embeds: chunks of real PDFs (parsed, cleaned and chunked by the
project's own code, with the document context in front), taken evenly over the documents. Arms,
alternated ``--repeats`` times so that a change of machine load hits all of them alike:

- ``fp32``: the fp32 path (sentence-transformers, torch fp32; indexes from before bf16 keep it),
  at the configured batch size and at larger ones;
- ``bf16``: the same model with its weights cast to bfloat16 (these CPUs have AVX-512 BF16);
- ``autocast``: fp32 weights, matrix products in bfloat16 under ``torch.autocast``;
- ``onnx fp32`` / ``onnx int8``: the product's ONNX paths (``ingest/onnx_embed.py``): the
  transformer exported with ``torch.onnx.export`` and run by ONNX Runtime, as is and with dynamic
  int8 quantisation of its weights;
- ``embedder bf16``: the shipped bf16 path (``Embedder(precision="bf16")``: autocast inside),
  what a new index gets on CPUs with bfloat16 products.

Per arm: chunks/s (median over repeats), the ratio to today's path, and how far its vectors are
from today's (cosine: mean, 1st percentile, min). Speed alone decides nothing: a path that changes
vectors must also keep ``localrag eval`` hit@4 (index and queries embedded the same way).

    python tests/bench/bench_embed_paths.py --eval-dir ../shared/eval --chunks 1000
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).parent))

from report import emit  # noqa: E402

from app.offline import apply_offline_env  # noqa: E402

apply_offline_env()


def chunk_texts(pdfs: list[Path], limit: int, documents: int) -> list[str]:
    """``limit`` texts as ingest embeds them, spread evenly over all chunks of ``documents``
    of ``pdfs`` (themselves spread evenly: parsing a whole set of filings takes minutes)."""
    from ingest.chunking import document_context, indexed_text
    from ingest.parsing import parse_document
    from ingest.settings import Settings

    settings = Settings()
    texts = []
    for pdf in pdfs[:: max(1, len(pdfs) // documents)][:documents]:
        try:
            title, _, chunks, *_ = parse_document(pdf.read_bytes(), pdf.stem,
                                                 settings.chunk_size, settings.chunk_overlap)
        except Exception as err:  # noqa: BLE001 - a bad file only drops out of the sample
            print(f"skipped {pdf.name}: {err}", file=sys.stderr)
            continue
        prefix = document_context(title, pdf.name)
        texts.extend(indexed_text(prefix, c.text) for c in chunks)
    step = max(1, len(texts) // limit)
    return texts[::step][:limit]


def sentence_transformer_arm(model: Any, batch_size: int,
                             context: Callable[[], Any] | None = None) -> Callable:
    import contextlib

    import numpy

    def run(texts: list[str]) -> Any:
        with (context or contextlib.nullcontext)():
            vectors = model.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                                   convert_to_tensor=True, show_progress_bar=False)
        return numpy.asarray(vectors.float().cpu().numpy(), dtype="float32")

    return run


def embedder_arm(precision: str, runtime: str, batch_size: int, cache: Path) -> Callable:
    """The product's own path (ingest/embed.py, ingest/onnx_embed.py)."""
    from ingest.embed import Embedder

    embedder = Embedder("all-MiniLM-L6-v2", batch_size=batch_size, precision=precision,
                        runtime=runtime, cache_dir=cache)
    _ = embedder.model  # exported (first use) and loaded before any timing
    return embedder.embed


def closeness(vectors: Any, reference: Any) -> dict[str, float]:
    import numpy

    cosines = (vectors * reference).sum(axis=1)
    return {"mean": round(float(cosines.mean()), 5),
            "p1": round(float(numpy.percentile(cosines, 1)), 5),
            "min": round(float(cosines.min()), 5)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--eval-dir", type=Path, default=REPO.parent / "shared" / "eval")
    parser.add_argument("--sets", default="covidqa,docugami_sec10q")
    parser.add_argument("--chunks", type=int, default=1000, help="texts per set")
    parser.add_argument("--documents", type=int, default=8, help="documents per set")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batch-sizes", default="16,32")
    parser.add_argument("--out", type=Path,
                        default=REPO / "bench-results" / "embed_paths.json")
    args = parser.parse_args()

    import torch
    from sentence_transformers import SentenceTransformer

    from ingest.embed import resolve_model_path
    from ingest.settings import Settings

    settings = Settings()
    path = resolve_model_path(settings.embedding_model)
    texts: list[str] = []
    for name in args.sets.split(","):
        pdfs = sorted((args.eval_dir / name / "pdfs").glob("*.pdf"))
        texts += chunk_texts(pdfs, args.chunks, args.documents)
    base = settings.embed_batch_size
    fp32 = SentenceTransformer(str(path), device="cpu")
    bf16 = SentenceTransformer(str(path), device="cpu").to(torch.bfloat16)
    arms: dict[str, Callable] = {f"fp32 b{base}": sentence_transformer_arm(fp32, base)}
    for size in (int(s) for s in args.batch_sizes.split(",")):
        arms[f"fp32 b{size}"] = sentence_transformer_arm(fp32, size)
        arms[f"bf16 b{size}"] = sentence_transformer_arm(bf16, size)
        arms[f"autocast b{size}"] = sentence_transformer_arm(
            fp32, size, lambda: torch.autocast("cpu", dtype=torch.bfloat16))
    with tempfile.TemporaryDirectory() as work:
        for size in sorted({base, *(int(s) for s in args.batch_sizes.split(","))}):
            arms[f"onnx fp32 b{size}"] = embedder_arm("fp32", "onnx", size, Path(work))
            arms[f"onnx int8 b{size}"] = embedder_arm("int8", "onnx", size, Path(work))
            # The shipped bf16 path (Embedder, autocast inside), what a new index gets here.
            arms[f"embedder bf16 b{size}"] = embedder_arm("bf16", "torch", size, Path(work))
        report = measure(arms, texts, args.repeats, f"fp32 b{base}")
    one, five, _ = os.getloadavg()
    report.update({"texts": len(texts), "sets": args.sets, "threads": torch.get_num_threads(),
                   "load_end": [round(one, 2), round(five, 2)],
                   "mean_characters": round(statistics.mean(len(t) for t in texts))})
    emit(report, args.out)


def measure(arms: dict[str, Callable], texts: list[str], repeats: int, baseline: str) -> dict:
    one, five, _ = os.getloadavg()
    for run in arms.values():  # warm-up: first-call allocations and kernel choices
        run(texts[:32])
    seconds: dict[str, list[float]] = {name: [] for name in arms}
    vectors: dict[str, Any] = {}
    for repeat in range(repeats):
        names = list(arms) if repeat % 2 == 0 else list(reversed(arms))
        for name in names:
            start = time.perf_counter()
            vectors[name] = arms[name](texts)
            seconds[name].append(time.perf_counter() - start)
            print(f"{name}: {len(texts) / seconds[name][-1]:.1f} chunks/s", file=sys.stderr,
                  flush=True)
    # A question is embedded alone, in the user's wait: its latency, not throughput.
    question = "What is the incubation period of the virus in children?"
    query_ms: dict[str, list[float]] = {name: [] for name in arms}
    for _ in range(15):
        for name in arms:
            start = time.perf_counter()
            arms[name]([question])
            query_ms[name].append((time.perf_counter() - start) * 1000)
    base_rate = len(texts) / statistics.median(seconds[baseline])
    results = {}
    for name in arms:
        rate = len(texts) / statistics.median(seconds[name])
        results[name] = {"chunks_per_s": round(rate, 1), "ratio": round(rate / base_rate, 3),
                         "query_ms_median": round(statistics.median(query_ms[name]), 2),
                         "cosine_to_today": closeness(vectors[name], vectors[baseline])}
    return {"baseline": baseline, "arms": results, "load_start": [round(one, 2), round(five, 2)]}


if __name__ == "__main__":
    main()
