"""How far better scoring of today's signals could take retrieval: a ceiling study.

For every scored question of a dev set, the retriever's own candidates (dense top N, keyword top N)
are collected with the signals the fusion uses: cosine similarity, dense rank, BM25 score and
rank, phrase-pair rank, the document-naming score, the fused score of those, and two
document-level signals: the rank of the chunk's document by BM25 of the question over its whole
text (the topical prior `search` adds with `topic_weight`) and by cosine of the question to the
mean of the document's chunk vectors. Reported:
- hit@k of the shipped fusion over those candidates (one passage per page, as `search` does);
- the pool ceiling: share of questions with a gold page anywhere among the candidates, and what
  the misses at 4 are (another page of the gold document, or other documents);
- hit@4 of a learned fusion (logistic regression and gradient-boosted trees), 5-fold
  cross-validated by question, over the passage signals and over all of them: what the best
  re-weighting of what we already compute could reach. A gap between the learned fusion and
  the pool ceiling is what a stronger relevance model (a reranker) would have to close;
- hit@4 of the fusion with each document-level prior at a few weights (how `topic_weight` was
  chosen; the centroid prior is not used by `search`).

Needs the set's evaluation index (`localrag eval ../shared/eval/<set>/questions_dev.jsonl`).

Usage (from the repository root; about a minute for covidqa):
    .venv/bin/python tests/bench/bench_fusion_ceiling.py ../shared/eval/covidqa/questions_dev.jsonl \
        --out bench-results/fusion-ceiling-covidqa.json
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from report import emit  # noqa: E402

from app.offline import apply_offline_env  # noqa: E402

apply_offline_env()

SIGNALS = ("cosine", "cosine_gap", "dense_rr", "bm25_share", "lexical_rr", "phrase_rr",
           "named_share", "fused")
DOCUMENT_SIGNALS = ("topic_rr", "centroid_rr")
PRIOR_WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0)


def document_centroids(store: Any) -> tuple[list[str], Any]:
    """Each document's mean chunk vector, normalised (rows in the order of the returned ids)."""
    import numpy as np

    sums: dict[str, Any] = {}
    total = store.count()
    for offset in range(0, total, 5000):  # one get of 80k rows exceeds SQLite's variable limit
        got = store.collection.get(include=["embeddings", "metadatas"], offset=offset, limit=5000)
        for vector, meta in zip(got["embeddings"], got["metadatas"], strict=True):
            doc_id = str(meta["doc_id"])
            sums[doc_id] = sums.get(doc_id, 0.0) + np.asarray(vector, dtype=np.float32)
    doc_ids = sorted(sums)
    matrix = np.array([sums[d] for d in doc_ids])
    return doc_ids, matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def centroid_ranks(vector: Any, centroids: tuple[list[str], Any]) -> dict[str, int]:
    """Rank of every document by the cosine of the question to its centroid."""
    doc_ids, matrix = centroids
    return {doc_ids[i]: r for r, i in enumerate((-(matrix @ vector)).argsort(), start=1)}


def candidate_rows(retriever: Any, question: str, file_of: dict[str, str],
                   centroids: tuple[list[str], Any]) -> list[dict[str, Any]]:
    """The retriever's candidates for ``question`` with each fusion signal, then the
    document-level ones."""
    import numpy as np

    from app.retrieval import SearchTimings, phrase_ranking, reciprocal_rank_fusion

    timings = SearchTimings()
    n = retriever.candidates
    vector = [float(x) for x in retriever.embedder.embed([question])[0]]
    dense, similarity = retriever.dense(vector, n, timings)
    hits = retriever.registry.lexical_search(question, n)
    lexical = [h.chunk for h in hits]
    bm25 = {h.chunk.chunk_id: h.score for h in hits}
    named = retriever.named(question, timings)
    # "fused" leaves the topical prior out: the prior is studied as a signal of its own below,
    # and "shipped" is what `search` ranks by.
    fused = {c.chunk_id: score for c, score in retriever.fuse(question, dense, lexical, named)}
    topics = retriever.topics(question, timings)
    shipped = {c.chunk_id: score
               for c, score in retriever.fuse(question, dense, lexical, named, topics)}
    topic_rr = reciprocal_rank_fusion([topics], k=retriever.rrf_k)
    by_id = {c.chunk_id: c for c in [*lexical, *dense]}
    similarity.update(retriever._similarities(
        vector, {i for i in by_id if i not in similarity}))
    phrase = phrase_ranking(question, list(by_id.values()))
    ranks = [{c.chunk_id: r for r, c in enumerate(ranking, start=1)}
             for ranking in (dense, lexical, phrase)]
    best_cosine = max(similarity.values(), default=0.0)
    best_bm25 = max(bm25.values(), default=0.0) or 1.0
    best_named = max(named.values(), default=0.0) or 1.0
    by_cosine = centroid_ranks(np.array(vector, dtype=np.float32), centroids)
    k = retriever.rrf_k
    rows = []
    for chunk_id, cand in by_id.items():
        cosine = similarity.get(chunk_id, 0.0)
        rows.append({
            "file": file_of.get(cand.doc_id, ""), "page": cand.page,
            "shipped": shipped[chunk_id],
            "signals": [cosine, cosine - best_cosine,
                        1 / (10 + ranks[0].get(chunk_id, 100)),
                        bm25.get(chunk_id, 0.0) / best_bm25,
                        1 / (10 + ranks[1].get(chunk_id, 100)),
                        1 / (10 + ranks[2].get(chunk_id, 100)),
                        named.get(cand.doc_id, 0.0) / best_named,
                        fused[chunk_id],
                        topic_rr.get(cand.doc_id, 0.0),
                        1 / (k + by_cosine[cand.doc_id])],
        })
    return rows


def passage_order(rows: list[dict[str, Any]], scores: list[float]) -> list[tuple[str, int]]:
    """(file, page) of the passages best first when, as in `search`, each page is one passage
    scoring as its best chunk."""
    best: dict[tuple[str, int], float] = {}
    for row, score in zip(rows, scores, strict=True):
        key = (row["file"], row["page"])
        best[key] = max(score, best.get(key, float("-inf")))
    return sorted(best, key=lambda key: -best[key])


def gold_rank(rows: list[dict[str, Any]], scores: list[float], gold: frozenset, document_level: bool
              ) -> int | None:
    """Rank of the first passage from a gold page (or document)."""
    ordered = passage_order(rows, scores)
    return next((rank for rank, (file, page) in enumerate(ordered, start=1)
                 if (file, None if document_level else page) in gold), None)


def misses(items: list[dict[str, Any]], ranks: list[int | None], scores: list[list[float]]
           ) -> dict[str, int]:
    """The shipped fusion's misses at 4: the gold document is in the top 4 with another page, or
    other documents fill it; and how many of those have no gold page among the candidates."""
    counts = {"gold_document_other_page": 0, "other_documents": 0, "gold_not_among_candidates": 0}
    for it, rank, scored in zip(items, ranks, scores, strict=True):
        if rank is not None and rank <= 4:
            continue
        top = passage_order(it["rows"], scored)[:4]
        gold_files = {file for file, _ in it["gold"]}
        same = any(file in gold_files for file, _ in top)
        counts["gold_document_other_page" if same else "other_documents"] += 1
        counts["gold_not_among_candidates"] += rank is None
    return counts


def share(ranks: list[int | None], k: int) -> float:
    return round(sum(1 for r in ranks if r is not None and r <= k) / len(ranks), 3)


def cross_validated_hit4(items: list[dict[str, Any]], model_name: str, columns: int,
                         folds: int = 5) -> float:
    """hit@4 of a model trained on the first ``columns`` signals, 5-fold by question."""
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    fold_of = [random.Random(i).randrange(folds) for i in range(len(items))]
    ranks: list[int | None] = []
    for fold in range(folds):
        train = [it for it, f in zip(items, fold_of, strict=True) if f != fold]
        x = np.array([row["signals"][:columns] for it in train for row in it["rows"]])
        y = np.array([row["gold"] for it in train for row in it["rows"]])
        model = LogisticRegression(max_iter=2000) if model_name == "logistic" else \
            HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, max_leaf_nodes=15)
        model.fit(x, y)
        for it, f in zip(items, fold_of, strict=True):
            if f == fold and it["rows"]:
                scores = model.predict_proba(
                    np.array([r["signals"][:columns] for r in it["rows"]]))[:, 1]
                ranks.append(gold_rank(it["rows"], list(scores), it["gold"], it["document_level"]))
            elif f == fold:
                ranks.append(None)
    return share(ranks, 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("questions", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    from app.components import eval_settings, open_embedder, open_retriever
    from app.eval.retrieval import load_questions
    from ingest.settings import Settings

    settings = Settings()
    isolated = eval_settings(settings, args.questions.parent)
    if not isolated.registry_path.is_file():
        sys.exit(f"no evaluation index at {isolated.data_dir}: run `localrag eval {args.questions}`")
    retriever = open_retriever(isolated, open_embedder(settings))
    file_of = {d.doc_id: Path(d.paths[0]).name if d.paths else d.title
               for d in retriever.registry.documents()}
    centroids = document_centroids(retriever.store)
    questions = [q for q in load_questions(args.questions) if q.gold and not q.context_dependent]
    items = []
    for q in questions:
        rows = candidate_rows(retriever, q.question, file_of, centroids)
        gold = {(f, None if q.document_level else p) for f, p in q.gold}
        for row in rows:
            row["gold"] = (row["file"], None if q.document_level else row["page"]) in gold
        items.append({"rows": rows, "gold": frozenset(gold), "document_level": q.document_level})
    fused_at = SIGNALS.index("fused")
    every = len(SIGNALS) + len(DOCUMENT_SIGNALS)

    def scores_with_prior(column: int, weight: float) -> list[list[float]]:
        return [[r["signals"][fused_at] + weight * r["signals"][column] for r in it["rows"]]
                for it in items]

    def gold_ranks(scores: list[list[float]]) -> list[int | None]:
        return [gold_rank(it["rows"], scored, it["gold"], it["document_level"])
                if it["rows"] else None for it, scored in zip(items, scores, strict=True)]

    shipped_scores = [[r["shipped"] for r in it["rows"]] for it in items]
    shipped = gold_ranks(shipped_scores)
    report = {
        "questions": len(items),
        "candidates_per_question": round(sum(len(it["rows"]) for it in items) / len(items), 1),
        "shipped_fusion": {f"hit@{k}": share(shipped, k) for k in (1, 4, 10, 20)},
        "pool_ceiling": share(shipped, 10**6),
        "misses_at_4": misses(items, shipped, shipped_scores),
        "learned_fusion_cv_hit@4": {name: cross_validated_hit4(items, name, len(SIGNALS))
                                    for name in ("logistic", "boosted_trees")},
        "learned_fusion_with_document_signals_cv_hit@4": {
            name: cross_validated_hit4(items, name, every) for name in ("logistic", "boosted_trees")},
        "fusion_with_document_prior_hit@4": {
            signal: {str(w): share(gold_ranks(scores_with_prior(len(SIGNALS) + i, w)), 4)
                     for w in PRIOR_WEIGHTS}
            for i, signal in enumerate(DOCUMENT_SIGNALS)},
        "signals": SIGNALS + DOCUMENT_SIGNALS,
    }
    emit(report, args.out)


if __name__ == "__main__":
    main()
