"""Answerability gate and prompt size, measured without the LLM (seconds, not hours).

(a) Gate. For every answerable dev question and every near-topic absent question of a set, the
    chain's retrieval runs and each gate is applied as the chain applies it: similarity below the
    threshold, a question word no chunk of the index contains, a question term (number, year,
    name) none of the k passages contains. Reported: the share of absent questions each gate (and
    all together) refuses, and the share of answerable questions it refuses wrongly.
(b) Prompt size. For answerable covidqa questions whose gold page is among the k sources: whether
    the gold answer (SQuAD-normalised) is inside what the model is given, for each source length
    (the focused window, ``source_chars``) and k, with the prompt's size in characters. A shorter
    prompt answers sooner on a CPU (time to first token is prompt processing); it must still hold
    the answer.
(c) Extractive baseline: token recall of the single source sentence closest to the question.

Needs the evaluation indexes (`localrag eval <set>/questions_dev.jsonl` builds each).

Usage (from the repository root):
    .venv/bin/python tests/bench/bench_answer_gate.py --out bench-results/answer_gate.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
EVAL = REPO.parent / "shared" / "eval"
ABSENT = REPO / "tests" / "eval"
SETS = ("covidqa", "docugami_sec10q", "financebench")

from app.offline import apply_offline_env  # noqa: E402

apply_offline_env()


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def open_set(name: str, embedder: Any) -> Any:
    from app.components import eval_settings, open_retriever
    from ingest.settings import Settings

    settings = eval_settings(Settings(), EVAL / name)
    if not settings.registry_path.is_file():
        sys.exit(f"no evaluation index for {name}: run localrag eval {EVAL / name}/questions_dev.jsonl")
    return settings, open_retriever(settings, embedder)


def gate_verdicts(retriever: Any, question: str, k: int, threshold: float) -> dict[str, Any]:
    from app.answer.answerability import missing_question_terms

    hits = retriever.search(question, k)
    best = max((h.similarity for h in hits), default=0.0)
    unknown = retriever.unknown_terms(question)
    missing = missing_question_terms(question, [h.text for h in hits])
    return {"similarity": best < threshold, "unknown_word": bool(unknown),
            "missing_term": bool(missing), "unknown": unknown, "missing": missing,
            "hits": hits}


def bench_gate(name: str, retriever: Any, questions: list[Any], absent: list[Any], k: int,
               threshold: float) -> dict[str, Any]:
    kinds = ("similarity", "unknown_word", "missing_term")
    result: dict[str, Any] = {}
    examples: dict[str, list[Any]] = {"false_refusals": [], "absent_answered": []}
    for label, rows in (("answerable", questions), ("absent", absent)):
        counts = dict.fromkeys((*kinds, "any"), 0)
        for q in rows:
            v = gate_verdicts(retriever, q.question, k, threshold)
            fired = [kind for kind in kinds if v[kind]]
            for kind in fired:
                counts[kind] += 1
            counts["any"] += bool(fired)
            if label == "answerable" and fired and len(examples["false_refusals"]) < 15:
                examples["false_refusals"].append([q.question, v["unknown"], v["missing"]])
            if label == "absent" and not fired:
                examples["absent_answered"].append(q.question)
        result[label] = {"n": len(rows), **{kind: counts[kind] / len(rows) if rows else None
                                            for kind in counts}}
    result["examples"] = examples
    say(f"{name}: gate refuses {result['absent']['any']} of absent (n={len(absent)}), "
        f"{result['answerable']['any']:.3f} of answerable (n={len(questions)})")
    return result


def bench_context(retriever: Any, questions: list[Any], ks: list[int],
                  budgets: list[list[int]]) -> dict[str, Any]:
    from app.answer.prompting import focus_sources, format_sources, number_sources
    from app.eval.metrics import normalize, token_recall

    rows = []
    for q in questions:
        hits = retriever.search(q.question, max(ks))
        rows.append((q, hits))
    # Every question counts (a gold page outside the top k holds no answer either).
    table: dict[str, Any] = {}
    for k in ks:
        for budget in budgets:
            held = total = chars = 0
            for q, hits in rows:
                top = hits[:k]
                if not q.answer.strip():
                    continue
                sources = focus_sources(number_sources(top), q.question, budget)
                text = format_sources(sources)
                total += 1
                chars += len(text)
                held += normalize(q.answer) in normalize(text)
            table[f"k={k} chars={'/'.join(map(str, budget))}"] = {
                "answer_in_prompt": held / total if total else None, "questions": total,
                "mean_source_chars": chars / total if total else None}
    # (c) the extractive baseline at the default k
    from app.answer.claims import source_sentences
    from app.answer.terms import content_stems

    recalls = []
    for q, hits in rows:
        if not q.answer.strip():
            continue
        want = content_stems(q.question)
        best, best_score = "", -1
        for h in hits[:4]:
            for start, end in source_sentences(h.text):
                sentence = h.text[start:end]
                score = len(want & content_stems(sentence))
                if score > best_score:
                    best, best_score = sentence, score
        recalls.append(token_recall(best, q.answer))
    table["extractive_token_recall"] = sum(recalls) / len(recalls) if recalls else None
    return table


def load(path: Path) -> list[Any]:
    from app.eval.retrieval import load_questions

    return load_questions(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", default=",".join(SETS[:2]))
    parser.add_argument("--limit", type=int, default=300, help="answerable questions per set")
    parser.add_argument("--out", type=Path, default=REPO / "bench-results" / "answer_gate.json")
    args = parser.parse_args()
    from app.components import open_embedder
    from app.eval.retrieval import spread_sample
    from ingest.settings import Settings

    embedder = open_embedder(Settings())
    results: dict[str, Any] = {}
    for name in args.sets.split(","):
        settings, retriever = open_set(name, embedder)
        questions = spread_sample(load(EVAL / name / "questions_dev.jsonl"), args.limit)
        absent_file = ABSENT / f"absent_{name}.jsonl"
        absent = [q for q in load(absent_file) if q.absent] if absent_file.is_file() else []
        started = time.perf_counter()
        results[name] = {"gate": bench_gate(name, retriever, questions, absent, settings.top_k,
                                            settings.relevance_threshold)}
        if name == "covidqa":
            results[name]["context"] = bench_context(
                retriever, questions, [2, 3, 4],
                [[300], [400], [500], [600], [800], [800, 500, 300], [800, 600, 400]])
        results[name]["seconds"] = time.perf_counter() - started
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1, default=str))
    print(json.dumps({n: {k: v for k, v in r.items() if k != "gate"} | {
        "gate": {k: v for k, v in r["gate"].items() if k != "examples"}}
        for n, r in results.items()}, indent=1))
    say(f"written {args.out}")


if __name__ == "__main__":
    main()
