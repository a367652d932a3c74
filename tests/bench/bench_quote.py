"""The quote (the extractive answer shown before the model's), measured without the LLM.

For answerable covidqa dev questions spread over the papers (``spread_sample``), the chain's
retrieval (k = ``top_k``) runs, and each way of picking sentences from the passages is scored as
`localrag eval --answers` scores answers: token recall and containment of the gold answer, whether
the quoted passage is on a gold page, and the quote's length. Ways compared:

- one sentence, the most question words (counted): the baseline of bench_answer_gate (c) before;
- one sentence / the sentence and the next, question words weighted by rarity among the
  candidate sentences (``app.answer.quote.candidates``); the second is what ships (``best_quote``);
- the sentence before, the best and the next (rarity);
- with ``--embedding``: the shipped scoring plus the MiniLM cosine of question and sentence (the
  model the app has loaded anyway), and the cosine alone, with the time it costs per question.

Needs the covidqa evaluation index (`localrag eval ../shared/eval/covidqa/questions_dev.jsonl`).

Usage (from the repository root; about a minute, five with --embedding, on 2 cores):
    .venv/bin/python tests/bench/bench_quote.py --limit 320 --embedding --out bench-results/quote.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
EVAL = REPO.parent / "shared" / "eval"

from app.offline import apply_offline_env  # noqa: E402

apply_offline_env()


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _around(candidate: Any) -> Any:
    """The sentence before, the candidate's and the next one."""
    from app.answer.quote import Quote

    spans, i = candidate.spans, candidate.index
    start = spans[max(0, i - 1)][0]
    end = spans[min(len(spans) - 1, i + 1)][1]
    return Quote(candidate.source, " ".join(candidate.text[start:end].split()), start, end)


def ways(embedding: bool, embedder: Any) -> dict[str, Callable[[str, list], Any]]:
    """name -> f(question, passages) -> Quote | None."""
    import numpy as np

    from app.answer.quote import candidates, quote_from

    def pick(rarity: bool, make: Callable[[Any], Any],
             rescore: Callable[[str, list], list[float]] | None = None) -> Callable:
        def way(question: str, passages: list) -> Any:
            scored = candidates(question, passages, rarity=rarity)
            if not scored:
                return None
            scores = rescore(question, scored) if rescore else [c.score for c in scored]
            best = max(range(len(scored)), key=scores.__getitem__)
            return make(scored[best]) if scored[best].matched or rescore else None
        return way

    cache: dict[str, Any] = {}  # question -> cosines: both MiniLM ways pay for one embedding

    def cosines(question: str, scored: list) -> Any:
        if question not in cache:
            texts = [c.text[c.spans[c.index][0]:c.spans[c.index][1]] for c in scored]
            vectors = np.asarray(embedder.embed([question, *texts]))
            cache[question] = vectors[1:] @ vectors[0]
        return cache[question]

    out = {
        "one sentence, question words counted": pick(False, lambda c: quote_from(c, False)),
        "one sentence, rare words weighted": pick(True, lambda c: quote_from(c, False)),
        "sentence and the next, words counted": pick(False, quote_from),
        "sentence and the next, rare words weighted (shipped)": pick(True, quote_from),
        "sentence before, best and next, rare words weighted": pick(True, _around),
    }
    if embedding:
        out["sentence and the next, rare words + MiniLM cosine"] = pick(
            True, quote_from, lambda q, s: [c.score + float(x) for c, x in zip(s, cosines(q, s),
                                                                              strict=True)])
        out["sentence and the next, MiniLM cosine alone"] = pick(
            True, quote_from, lambda q, s: list(cosines(q, s)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=320, help="answerable questions")
    parser.add_argument("--embedding", action="store_true", help="also the MiniLM variants")
    parser.add_argument("--out", type=Path, default=REPO / "bench-results" / "quote.json")
    args = parser.parse_args()
    from app.answer.prompting import number_sources
    from app.components import eval_settings, open_embedder, open_retriever
    from app.eval.metrics import contains, token_recall
    from app.eval.retrieval import load_questions, spread_sample
    from ingest.settings import Settings

    settings = eval_settings(Settings(), EVAL / "covidqa")
    if not settings.registry_path.is_file():
        sys.exit("no covidqa evaluation index: run localrag eval "
                 "../shared/eval/covidqa/questions_dev.jsonl first")
    embedder = open_embedder(settings)
    retriever = open_retriever(settings, embedder)
    questions = [q for q in spread_sample(load_questions(EVAL / "covidqa" / "questions_dev.jsonl"),
                                          args.limit) if q.answer.strip()]
    rows = []
    for q in questions:
        sources = number_sources(retriever.search(q.question, settings.top_k))
        rows.append((q, sources, [(s.number, s.text) for s in sources]))
    say(f"{len(rows)} questions retrieved (k = {settings.top_k})")
    table: dict[str, Any] = {}
    for name, way in ways(args.embedding, embedder).items():
        recall, held, gold, lengths, ms = [], [], [], [], []
        for q, sources, passages in rows:
            started = time.perf_counter()
            quote = way(q.question, passages)
            ms.append((time.perf_counter() - started) * 1000)
            text = quote.text if quote else ""
            recall.append(token_recall(text, q.answer))
            held.append(contains(text, q.answer))
            source = next((s for s in sources if quote and s.number == quote.source), None)
            gold.append(source is not None and (source.file, source.page) in q.gold)
            lengths.append(len(text))
        table[name] = {
            "token_recall": statistics.mean(recall), "contains": statistics.mean(held),
            "on_gold_page": statistics.mean(gold), "chars_p50": statistics.median(lengths),
            "chars_p90": sorted(lengths)[int(0.9 * len(lengths))],
            "ms_p50": statistics.median(ms)}
        say(f"{name}: recall {table[name]['token_recall']:.3f}")
    result = {"questions": len(rows), "k": settings.top_k, "ways": table}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
