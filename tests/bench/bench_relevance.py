"""Measure the relevance threshold behind "not in your documents".

For an evaluation index (built by `localrag eval`), the best dense similarity among the top-k
passages is computed for the set's own questions (answerable) and for questions of the other
sets (about documents that are not there). For each threshold: the share of answerable questions
that would still be answered and the share of off-topic ones refused.

Usage (after `localrag eval` has built the indexes):
    .venv/bin/python tests/bench/bench_relevance.py --out bench-results/relevance.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
EVAL = REPO.parent / "shared" / "eval"

from app.offline import apply_offline_env  # noqa: E402

apply_offline_env()

SETS = {"covidqa": EVAL / "covidqa", "docugami": EVAL / "docugami_sec10q",
        "financebench": EVAL / "financebench"}


def questions(folder: Path, limit: int) -> list[str]:
    rows = [json.loads(line) for line in (folder / "questions_dev.jsonl").open()]
    return [r["question"] for r in rows if not r.get("context_dependent")][:limit]


def best_similarities(retriever, texts: list[str], k: int) -> list[float]:
    return [max((h.similarity for h in retriever.search(t, k)), default=0.0) for t in texts]


def main() -> None:
    from app.components import eval_settings, open_embedder, open_retriever
    from ingest.settings import Settings

    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=120, help="questions per set")
    parser.add_argument("--out", type=Path, default=REPO / "bench-results" / "relevance.json")
    args = parser.parse_args()
    settings = Settings()
    embedder = open_embedder(settings)
    report = {}
    for name, folder in SETS.items():
        isolated = eval_settings(settings, folder)
        if not isolated.registry_path.exists():
            print(f"{name}: no eval index at {isolated.data_dir}; run localrag eval first")
            continue
        retriever = open_retriever(isolated, embedder)
        own = best_similarities(retriever, questions(folder, args.limit), settings.top_k)
        other = [s for o, f in SETS.items() if o != name
                 for s in best_similarities(retriever, questions(f, args.limit), settings.top_k)]
        table = {}
        for step in range(10, 61, 2):
            t = step / 100
            table[f"{t:.2f}"] = {"answered": sum(s >= t for s in own) / len(own),
                                 "off_topic_refused": sum(s < t for s in other) / len(other)}
        report[name] = {"own_median": statistics.median(own), "own_p01": sorted(own)[len(own) // 100],
                        "own_min": min(own), "other_median": statistics.median(other),
                        "other_max": max(other), "table": table}
        print(f"{name}: own median {report[name]['own_median']:.3f} min {min(own):.3f}; "
              f"off-topic median {report[name]['other_median']:.3f} max {max(other):.3f}")
        for t, row in table.items():
            print(f"  {t}: answered {row['answered']:.3f}  off-topic refused "
                  f"{row['off_topic_refused']:.3f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
