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


def interleave(answerable: Sequence[Question], absent: Sequence[Question]) -> list[Question]:
    """Absent questions spread evenly among the answerable ones, so that a run cut short (or a
    machine that slows down) affects both kinds alike."""
    out = list(answerable)
    for j, question in reversed(list(enumerate(absent))):
        out.insert(round((j + 1) * len(answerable) / (len(absent) + 1)), question)
    return out


def _on_gold(source: Any, question: Question) -> bool:
    if question.document_level:
        return source.file in {file for file, _ in question.gold}
    return (source.file, source.page) in question.gold


def _citation_hits(result: Any, question: Question) -> tuple[int, int]:
    """(markers pointing to a gold page, markers shown) over the answer's statements."""
    by_number = {src.number: src for src in result.sources}
    shown = [by_number[n] for c in getattr(result, "claims", []) for n in c.shown if n in by_number]
    if not shown and not getattr(result, "claims", None):
        shown = list(result.cited)
    return sum(_on_gold(src, question) for src in shown), len(shown)


def _quote_source(result: Any) -> Any:
    quote = getattr(result, "quote", None)
    if quote is None or result.refused:
        return None
    return next((s for s in result.sources if s.number == quote.source), None)


def _answered_everything_flagged(result: Any) -> bool:
    """Not refused, but no statement shown as a cited fact: every claim flagged."""
    claims = [c for c in getattr(result, "claims", []) if c.checked]
    return bool(claims) and all(not c.supported for c in claims)


def evaluate_answers(
    questions: Sequence[Question],
    answer: Callable[[str], Any],
    on_record: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Answer every question; score answers against gold answers, citations against gold pages,
    and, for questions marked ``absent``, whether the answer was refused."""
    records = []
    for question in questions:
        if question.context_dependent:
            continue
        result = answer(question.question)
        good, shown = _citation_hits(result, question)
        claims = [c for c in getattr(result, "claims", []) if c.checked]
        # What the user reads: the quote of the sources (when shown) and the model's answer;
        # both are scored, and the model's answer alone, to tell what each contributes.
        shown_text = getattr(result, "shown_text", result.text)
        quote_source = _quote_source(result)
        record = {
            "id": question.id, "question": question.question, "gold_answer": question.answer,
            "absent": question.absent,
            "answer": shown_text, "model_answer": result.text,
            "quote": None if quote_source is None else result.quote.text,
            "quote_on_gold": None if quote_source is None else _on_gold(quote_source, question),
            "refused": result.refused,
            "refusal_reason": getattr(result, "refusal_reason", ""),
            "withheld": getattr(result, "withheld", ""),
            "no_cited_fact": result.refused or _answered_everything_flagged(result),
            "cited": [[s.file, s.page] for s in result.cited],
            "citations_on_gold": good, "citations_shown": shown,
            "claims": [{"text": c.text, "verdict": c.verdict, "cited": list(c.cited),
                        "shown": list(c.shown), "missing": list(c.missing),
                        "coverage": round(c.coverage, 3)} for c in claims],
            "metrics": None if question.absent else score_answer(shown_text, question.answer),
            "model_metrics": None if question.absent else score_answer(result.text,
                                                                        question.answer),
            "quote_metrics": None if question.absent or quote_source is None else
            score_answer(result.quote.text, question.answer),
            "sources_ms": result.timings.get("sources_ms"),
            "first_token_ms": result.timings.get("first_token_ms"),
            "prompt_tokens": getattr(result, "prompt_tokens", 0),
            "total_ms": result.timings.get("total_ms"),
        }
        records.append(record)
        if on_record is not None:
            on_record(record)
    return records, summarise(records)


def _rate(flags: list[bool]) -> float | None:
    return sum(flags) / len(flags) if flags else None


def summarise(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    answerable = [r for r in records if not r["absent"]]
    absent = [r for r in records if r["absent"]]
    summary: dict[str, Any] = {"answered": len(records), "answerable": len(answerable),
                               "absent": len(absent)}
    for name in ANSWER_METRICS:
        values = [r["metrics"][name] for r in answerable if r["metrics"][name] is not None]
        summary[name] = {"mean": sum(values) / len(values) if values else None, "n": len(values)}
    for part in ("model_metrics", "quote_metrics"):  # each half of what is shown, alone
        rows = [r[part] for r in answerable if r.get(part)]
        summary[part] = {name: (sum(v[name] for v in rows) / len(rows) if rows else None)
                         for name in ("token_recall", "contains", "f1")} | {"n": len(rows)}
    summary["quote_on_gold"] = _rate([r["quote_on_gold"] for r in answerable
                                      if r.get("quote_on_gold") is not None])
    summary["refusal_rate"] = _rate([r["refused"] for r in answerable]) or 0.0
    summary["false_refusal_rate"] = _rate([r["no_cited_fact"] for r in answerable])
    summary["absent_refusal_rate"] = _rate([r["no_cited_fact"] for r in absent])
    summary["cited_rate"] = _rate([bool(r["cited"]) for r in answerable]) or 0.0
    shown = sum(r["citations_shown"] for r in answerable)
    summary["citation_precision"] = {
        "mean": sum(r["citations_on_gold"] for r in answerable) / shown if shown else None,
        "n": shown}
    quoted = [r for r in answerable if r.get("quote_on_gold") is not None]
    summary["citation_precision_with_quote"] = {
        "mean": (sum(r["citations_on_gold"] for r in answerable) + sum(r["quote_on_gold"]
                 for r in quoted)) / (shown + len(quoted)) if shown + len(quoted) else None,
        "n": shown + len(quoted)}
    claims = [c for r in records if not r["refused"] for c in r["claims"]]
    summary["claims"] = {"checked": len(claims),
                         **{v: sum(c["verdict"] == v for c in claims)
                            for v in ("supported", "moved", "cited by the check", "unsupported")}}
    for name in ("sources_ms", "first_token_ms", "total_ms", "prompt_tokens"):
        summary[name] = _percentiles([r[name] for r in records if r.get(name)])
    return summary
