"""Retrieval latency at 10k and 100k chunks: p50 and p95 of hybrid search, per stage.

Embedding 100k chunks takes over an hour on 2 cores, so the large indexes are built from a real
one (covidqa, ingested by localrag) by replicating its documents: each copy gets its own
document id, registry row, keyword rows and vectors (the originals plus small noise, normalised),
written through the same registry and store code as ingestion. Queries are the covidqa dev
questions.

Usage (from the repository root; about 10 minutes, plus a covidqa ingest on first use):
    .venv/bin/python tests/bench/bench_retrieval.py --out bench-results/retrieval.json
    (--source data/eval/covidqa-<hash> reuses an evaluation index; --keep DIR keeps the large
    indexes for another run)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).parent))
EVAL = REPO.parent / "shared" / "eval"

from replicated_library import build_replicated  # noqa: E402

from app.offline import apply_offline_env  # noqa: E402

apply_offline_env()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def source_index(source: Path | None, work: Path, embedder) -> Path:
    from app.components import open_ingestor
    from ingest.settings import Settings

    if source is not None:
        return source
    settings = Settings(data_dir=work / "source")
    ingestor = open_ingestor(settings, embedder)
    try:
        ingestor.ingest([EVAL / "covidqa" / "pdfs"])
    finally:
        ingestor.close()
    return settings.data_dir


def measure(data_dir: Path, embedder, questions: list[str], k: int) -> dict:
    """Per-stage latency of the default search, and side by side (alternating per question, order
    swapped every other one) the same search without the topical prior.

    Every search starts without the answers the keyword side keeps per library state
    (``lexical._USES_MOST``): the two searches of a question would otherwise share them, and the
    figures are those of a question whose words are all new to the process."""
    from app.components import open_retriever
    from app.retrieval import TOPICAL_DOCUMENTS
    from ingest import lexical as keyword_index
    from ingest.settings import Settings

    retriever = open_retriever(Settings(data_dir=data_dir), embedder)
    plain = open_retriever(Settings(data_dir=data_dir, topic_weight=0), embedder)
    for q in questions[:10]:  # warm caches, as a running app would be
        retriever.search(q, k)
        plain.search(q, k)
    totals, embed, dense, lexical, documents, fuse, topics, without_topics = ([] for _ in range(8))

    def timed(searcher, q: str) -> float:
        keyword_index._USES_MOST.clear()
        started = time.perf_counter()
        searcher.search(q, k)
        return (time.perf_counter() - started) * 1000 - searcher.last_timings.embed_ms

    for i, q in enumerate(questions):
        if i % 2:
            without_topics.append(timed(plain, q))
        keyword_index._USES_MOST.clear()
        started = time.perf_counter()
        retriever.search(q, k)
        totals.append((time.perf_counter() - started) * 1000)
        if not i % 2:
            without_topics.append(timed(plain, q))
        t = retriever.last_timings
        embed.append(t.embed_ms)
        dense.append(t.dense_ms)
        lexical.append(t.lexical_ms)
        documents.append(t.documents_ms)
        fuse.append(t.fuse_ms)
        started = time.perf_counter()
        retriever.registry.topical_documents(q, TOPICAL_DOCUMENTS)
        topics.append((time.perf_counter() - started) * 1000)

    def stats(values: list[float]) -> dict:
        return {"p50": statistics.median(values), "p95": percentile(values, 0.95)}
    without_embedding = [t - e for t, e in zip(totals, embed, strict=True)]
    return {"queries": len(questions), "total_ms": stats(totals),
            "without_query_embedding_ms": stats(without_embedding),
            "embed_ms": stats(embed), "dense_ms": stats(dense), "lexical_ms": stats(lexical),
            "documents_ms": stats(documents), "topical_documents_ms": stats(topics),
            "fuse_ms": stats(fuse),
            "without_topical_prior_ms": stats(without_topics),
            "median_ratio_with_over_without_prior": statistics.median(
                w / o for w, o in zip(without_embedding, without_topics, strict=True) if o > 0)}


# The keyword queries before the cost bound (kept here only to measure against, side by side):
# every word OR-ed and joined to the chunk rows before ranking, plus word pairs as FTS5 phrases.
PREVIOUS_QUERY = (
    "SELECT c.chunk_id, bm25(chunks_fts, 1.0, 0.4) AS rank FROM chunks_fts "
    "JOIN chunks c ON c.rowid = chunks_fts.rowid WHERE chunks_fts MATCH ? ORDER BY rank LIMIT 40"
)


def previous_expressions(question: str) -> list[str]:
    import re

    from ingest.lexical import STOPWORDS, match_expression

    words = [w.lower() for w in re.findall(r"\w+", question)]
    pairs = dict.fromkeys(f'"{a} {b}"' for a, b in zip(words, words[1:], strict=False)
                          if not (a in STOPWORDS and b in STOPWORDS))
    return [e for e in (match_expression(question), " OR ".join(pairs)) if e]


def keyword_side_by_side(data_dir: Path, questions: list[str]) -> dict:
    """Keyword search now vs before, alternating per question in one process (ms)."""
    import sqlite3

    from ingest import lexical

    db = sqlite3.connect(data_dir / "registry.sqlite3")
    now, before = [], []
    for q in questions:
        started = time.perf_counter()
        lexical.search(db, q, 40)
        now.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        for expression in previous_expressions(q):
            db.execute(PREVIOUS_QUERY, (expression,)).fetchall()
        before.append((time.perf_counter() - started) * 1000)
    db.close()
    ratios = [b / n for b, n in zip(before, now, strict=True) if n > 0]
    return {"now_ms": {"p50": statistics.median(now), "p95": percentile(now, 0.95)},
            "before_ms": {"p50": statistics.median(before), "p95": percentile(before, 0.95)},
            "median_ratio_before_over_now": statistics.median(ratios)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", type=Path, help="data dir of an existing covidqa index")
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--out", type=Path, default=REPO / "bench-results" / "retrieval.json")
    parser.add_argument("--keep", type=Path,
                        help="build the large indexes here and reuse them on later runs")
    args = parser.parse_args()

    from ingest.embed import Embedder

    embedder = Embedder("all-MiniLM-L6-v2")
    _ = embedder.model
    rows = [json.loads(line) for line in (EVAL / "covidqa" / "questions_dev.jsonl").open()]
    questions = [r["question"] for r in rows if not r.get("context_dependent")][: args.queries]
    report: dict = {}
    with tempfile.TemporaryDirectory(prefix="localrag-retrieval-") as tmp:
        work = args.keep or Path(tmp)
        source = source_index(args.source, work, embedder)
        for size in (int(s) for s in args.sizes.split(",")):
            target = work / f"n{size}"
            started = time.perf_counter()
            if (target / "built").exists():
                count = int((target / "built").read_text())
            else:
                count = build_replicated(source, target, size, embedder)
                (target / "built").write_text(str(count))
            built = time.perf_counter() - started
            print(f"{count} chunks ready in {built:.0f}s", file=sys.stderr, flush=True)
            report[str(size)] = {"chunks": count, "build_seconds": built,
                                 **measure(target, embedder, questions, 4),
                                 "keyword_side_by_side": keyword_side_by_side(target, questions)}
            print(json.dumps(report[str(size)], indent=1), file=sys.stderr, flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
