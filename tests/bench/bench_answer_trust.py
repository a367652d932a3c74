"""Answers a user can trust, side by side with today's chain, in one run on one model.

Two arms answer the same questions, alternating which goes first, on the same loaded model (the
default embedded Qwen2.5-Coder-1.5B unless --gguf says otherwise) and the same retriever:

- ``before``: the chain as it was before the claim check (commit f707818): four 800-character
  sources, no answerability check, no claim check; markers only resolved to sources. Its prompt
  wording and labels are the shipped ones again (f04377f), so both arms share the prompt code.
- ``after``: the chain as shipped (settings defaults): three unlabelled sources of 800/600/400
  characters (``top_k``, ``source_chars``), the
  answerability check before generation, every sentence checked after.

Questions: covidqa dev questions spread over the papers (``spread_sample``: one per paper in
turn, never the first rows of the file) and the project's own near-topic absent questions
(tests/eval/absent_covidqa.jsonl), interleaved. Reported per arm, with the same scoring as
`localrag eval --answers` (app/eval/answers.py): token recall, containment, F1, citation precision
(shown markers on a gold page), refusal of absent questions, false refusals, the claim verdicts,
and time to the sources and to the first token; and the TTFT ratio after/before (ratio of
medians and median of per-question ratios), with the load average.

Needs the covidqa evaluation index (`localrag eval ../shared/eval/covidqa/questions_dev.jsonl`).

Usage (from the repository root; about 40 minutes on 2 cores for 40 + 30 questions):
    .venv/bin/python tests/bench/bench_answer_trust.py --answerable 40 --absent 30 \\
        --out bench-results/answer_trust.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
EVAL = REPO.parent / "shared" / "eval"
ABSENT = REPO / "tests" / "eval" / "absent_covidqa.jsonl"
DEFAULT_GGUF = "qwen2.5-1.5b"

from app.offline import apply_offline_env  # noqa: E402

apply_offline_env()


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def open_arms(gguf: str) -> dict[str, Any]:
    from app.answer.chain import RagChain
    from app.components import eval_settings, open_embedder, open_retriever
    from app.llm.backends import open_llm
    from ingest.settings import Settings

    settings = eval_settings(Settings(llm_backend="llamacpp", gguf=gguf), EVAL / "covidqa")
    if not settings.registry_path.is_file():
        sys.exit("no covidqa evaluation index: run localrag eval "
                 "../shared/eval/covidqa/questions_dev.jsonl first")
    embedder = open_embedder(settings)
    retriever = open_retriever(settings, embedder)
    llm = open_llm(settings, on_status=say)
    after = RagChain(retriever, llm, k=settings.top_k,
                     relevance_threshold=settings.relevance_threshold,
                     source_chars=settings.source_chars, check_claims=True,
                     check_answerability=True, quote=settings.quote)
    before = RagChain(retriever, llm, k=4, relevance_threshold=settings.relevance_threshold,
                      source_chars=[800], check_claims=False, check_answerability=False,
                      quote=False)
    return {"before": before, "after": after, "settings": settings}


def answer(arm: str, chain: Any, question: str) -> Any:
    return chain.answer(question)


def run(arms: dict[str, Any], questions: list[Any], partial: Path
        ) -> dict[str, list[dict[str, Any]]]:
    """Both arms on every question; the records so far are rewritten to ``partial`` after each
    question, so a run cut short still leaves its figures."""
    from app.eval.answers import evaluate_answers

    records: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    for i, question in enumerate(questions):
        order = ("before", "after") if i % 2 == 0 else ("after", "before")
        for arm in order:
            got, _ = evaluate_answers([question], lambda q, a=arm: answer(a, arms[a], q))
            record = {**got[0], "load": os.getloadavg()[0]}
            records[arm].append(record)
            say(f"{i + 1}/{len(questions)} {arm:<6} ttft {record['first_token_ms'] or 0:7.0f} ms "
                f"{'ABSENT ' if question.absent else ''}{'refused' if record['refused'] else ''}"
                f" {record['answer'][:90]!r}")
        partial.write_text(json.dumps(records, default=str))
    return records


def paired_ttft_ratios(records: dict[str, list[dict[str, Any]]]) -> list[float]:
    ratios = []
    for b, a in zip(records["before"], records["after"], strict=True):
        if b["first_token_ms"] and a["first_token_ms"]:
            ratios.append(a["first_token_ms"] / b["first_token_ms"])
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--answerable", type=int, default=40)
    parser.add_argument("--absent", type=int, default=30)
    parser.add_argument("--gguf", default=DEFAULT_GGUF)
    parser.add_argument("--out", type=Path, default=REPO / "bench-results" / "answer_trust.json")
    args = parser.parse_args()
    from app.eval.answers import interleave, summarise
    from app.eval.retrieval import load_questions, spread_sample

    questions = spread_sample(load_questions(EVAL / "covidqa" / "questions_dev.jsonl"),
                              args.answerable)
    absent = [q for q in load_questions(ABSENT) if q.absent][: args.absent]
    mixed = interleave(questions, absent)
    arms = open_arms(args.gguf)
    say(f"{len(questions)} answerable + {len(absent)} absent questions, model {arms['after'].llm.model}")
    started = time.perf_counter()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    records = run(arms, mixed, args.out.with_suffix(".partial.json"))
    summaries = {arm: summarise(rows) for arm, rows in records.items()}
    ratios = paired_ttft_ratios(records)
    medians = {arm: summaries[arm]["first_token_ms"].get("p50") for arm in summaries}
    result = {
        "model": arms["after"].llm.model,
        "questions": {"answerable": len(questions), "absent": len(absent)},
        "summaries": summaries,
        "ttft_ratio_of_medians": (medians["after"] / medians["before"]
                                  if medians["after"] and medians["before"] else None),
        "ttft_median_paired_ratio": statistics.median(ratios) if ratios else None,
        "paired_questions": len(ratios),
        "load_average_median": statistics.median(r["load"] for rows in records.values()
                                                 for r in rows),
        "seconds": time.perf_counter() - started,
        "records": records,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, default=str))
    brief = {k: v for k, v in result.items() if k != "records"}
    print(json.dumps(brief, indent=1, default=str))
    say(f"written {args.out}")


if __name__ == "__main__":
    main()
