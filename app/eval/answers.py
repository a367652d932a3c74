"""Answer metrics for `localrag eval --answers`: every question answered by the full chain and
scored against its gold answer without an LLM judge."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from typing import Any

from app.eval.metrics import contains, numbers_share, numeric_match, token_f1, token_recall
from app.eval.retrieval import Question

ANSWER_METRICS = ("token_recall", "contains", "f1", "numeric_match", "numbers_share")


def score_answer(prediction: str, gold: str) -> dict[str, float | None]:
    """All metrics for every question; those that do not apply (no number in the gold answer)
    are None and left out of the means."""
    numeric = numeric_match(prediction, gold)
    return {
        "token_recall": token_recall(prediction, gold),
        "contains": float(contains(prediction, gold)),
        "f1": token_f1(prediction, gold),
        "numeric_match": None if numeric is None else float(numeric),
        "numbers_share": numbers_share(prediction, gold),
    }


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {}
    return {"p50": statistics.median(ordered),
            "p95": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]}


def evaluate_answers(
    questions: Sequence[Question],
    answer: Callable[[str], Any],
    on_record: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    records = []
    for question in questions:
        if question.context_dependent:
            continue
        result = answer(question.question)
        record = {
            "id": question.id, "question": question.question, "gold_answer": question.answer,
            "answer": result.text, "refused": result.refused,
            "cited": [[s.file, s.page] for s in result.cited],
            "metrics": score_answer(result.text, question.answer),
            "first_token_ms": result.timings.get("first_token_ms"),
            "total_ms": result.timings.get("total_ms"),
        }
        records.append(record)
        if on_record is not None:
            on_record(record)
    summary: dict[str, Any] = {"answered": len(records)}
    for name in ANSWER_METRICS:
        values = [r["metrics"][name] for r in records if r["metrics"][name] is not None]
        summary[name] = {"mean": sum(values) / len(values) if values else None, "n": len(values)}
    summary["refusal_rate"] = sum(r["refused"] for r in records) / len(records) if records else 0.0
    summary["cited_rate"] = sum(bool(r["cited"]) for r in records) / len(records) if records else 0.0
    summary["first_token_ms"] = _percentiles([r["first_token_ms"] for r in records
                                              if r["first_token_ms"] is not None])
    summary["total_ms"] = _percentiles([r["total_ms"] for r in records if r["total_ms"]])
    return records, summary
