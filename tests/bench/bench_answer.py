"""Answer benchmark: the chain's overhead over raw llama.cpp, and answer quality per embedded model.

(a) Chain overhead. For a few covidqa dev questions, the full chain (`chain.answer`: retrieval,
    context packing, LangChain streaming, citation mapping; what `localrag ask` runs) alternates
    with raw llama-cpp-python `create_chat_completion(stream=True)` on the identical messages the
    chain built, on the same `Llama` object (load time excluded) and the same sampling parameters.
    The Llama's state is reset before every call, so both pay full prompt processing (llama.cpp
    otherwise reuses the cached prompt prefix; the run checks this by timing one cached call).
    Reported: medians of time to first token (TTFT) and of generation tokens/s, and the overhead
    (median chain TTFT - median raw TTFT) / median raw TTFT.
(b) Answer quality and latency of each embedded catalog model on the first N non-context-dependent
    covidqa dev questions, through the full chain, models interleaved question by question (order
    rotated), scored by app.eval.answers.evaluate_answers.

Needs the covidqa evaluation index (`localrag eval ../shared/eval/covidqa/questions_dev.jsonl`).

Usage (from the repository root; about 30-45 minutes on 2 cores):
    .venv/bin/python tests/bench/bench_answer.py --questions 30 --rounds 3 --out bench-results/answer.json
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
QUESTIONS = EVAL / "covidqa" / "questions_dev.jsonl"
DEFAULT_GGUF = "data/models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
MODELS_DIR = REPO / "data" / "models"
MODELS = ("qwen2.5-1.5b", "qwen2.5-0.5b", "smollm2-135m")

from app.offline import apply_offline_env  # noqa: E402

apply_offline_env()


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def eval_index_settings() -> Any:
    """Settings of the covidqa evaluation index; exits with the way to build it when missing."""
    from app.components import eval_settings
    from ingest.settings import Settings

    settings = eval_settings(Settings(llm_backend="llamacpp"), Path("../shared/eval/covidqa"))
    if not settings.registry_path.is_file() or not settings.index_dir.is_dir():
        sys.exit(f"no covidqa evaluation index at {settings.data_dir}: build it first with\n"
                 "  .venv/bin/localrag eval ../shared/eval/covidqa/questions_dev.jsonl")
    return settings


def load_dev_questions(limit: int) -> list[Any]:
    from app.eval.retrieval import load_questions

    return [q for q in load_questions(QUESTIONS) if not q.context_dependent][:limit]


# ---------------------------------------------------------------- (a) chain against raw llama.cpp


def prepared_messages(chain: Any, question: str) -> list[tuple[str, str]] | None:
    """The messages the chain sends for ``question`` (None when retrieval finds nothing)."""
    from app.answer.chain import Answer

    state = chain.prepare.invoke({"answer": Answer(question, question), "history": []})
    return state.get("messages")


def sampling_params(chain: Any) -> dict[str, Any]:
    """The sampling parameters ChatLlamaCpp passes to create_chat_completion."""
    model = chain.llm.chat_model
    return {"max_tokens": model.max_tokens, "temperature": model.temperature, "top_p": model.top_p,
            "top_k": model.top_k, "repeat_penalty": model.repeat_penalty, "stop": model.stop or []}


def timing(started: float, first: float | None, text: str, count_tokens: Any) -> dict[str, Any]:
    ended = time.perf_counter()
    tokens = count_tokens(text) if text else 0
    gen_s = ended - first if first is not None else 0.0
    return {"ttft_ms": (first - started) * 1000 if first is not None else None,
            "total_ms": (ended - started) * 1000, "tokens": tokens,
            "tok_s": (tokens - 1) / gen_s if tokens > 1 and gen_s > 0 else None}


def run_chain(chain: Any, question: str) -> dict[str, Any]:
    """One answer through the chain; TTFT is the first visible token, as `localrag ask` shows it."""
    started, first, pieces, answer = time.perf_counter(), None, [], None
    for event in chain.stream(question):
        if event.kind == "token" and event.text:
            first = first or time.perf_counter()
            pieces.append(event.text)
        elif event.kind == "done":
            answer = event.answer
    result = timing(started, first, "".join(pieces), chain.llm.count_tokens)
    result["internal_ttft_ms"] = answer.timings.get("first_token_ms") if answer else None
    return result


def run_raw(chain: Any, messages: list[tuple[str, str]], params: dict[str, Any]) -> dict[str, Any]:
    llama = chain.llm.chat_model.client
    dicts = [{"role": role, "content": content} for role, content in messages]
    started, first, pieces = time.perf_counter(), None, []
    for chunk in llama.create_chat_completion(messages=dicts, stream=True, **params):
        content = chunk["choices"][0]["delta"].get("content") if chunk["choices"] else None
        if content:
            first = first or time.perf_counter()
            pieces.append(content)
    return timing(started, first, "".join(pieces), chain.llm.count_tokens)


def pick_overhead_questions(chain: Any, questions: list[Any], wanted: int) -> list[tuple[str, Any]]:
    """``wanted`` questions spread over the list whose retrieval leads to the model."""
    step = max(1, len(questions) // wanted)
    picked = []
    for question in questions[::step] + questions:
        messages = prepared_messages(chain, question.question)
        if messages and all(question.question != q for q, _ in picked):
            picked.append((question.question, messages))
        if len(picked) == wanted:
            break
    return picked


def cache_check(chain: Any, last: dict[str, Any], messages: list[tuple[str, str]],
                params: dict[str, Any]) -> dict[str, Any]:
    """The last measured prompt again without a reset: the prefix is reused and TTFT collapses,
    which shows that the reset before every measured call defeats llama.cpp's prompt cache."""
    cached = run_raw(chain, messages, params)
    say(f"cache check: TTFT after reset {last['ttft_ms'] or 0:.0f} ms, "
        f"cached {cached['ttft_ms'] or 0:.0f} ms")
    return {"after_reset_ttft_ms": last["ttft_ms"], "cached_ttft_ms": cached["ttft_ms"]}


def warm_up(chain: Any, question: str, params: dict[str, Any]) -> None:
    """First-call imports and allocations, on a short prompt (a full one costs minutes here)."""
    chain.retriever.search(question, chain.k)
    run_raw(chain, [("user", "Say hello.")], {**params, "max_tokens": 4})


def overhead_rounds(chain: Any, picked: list[tuple[str, Any]], rounds: int) -> list[dict[str, Any]]:
    llama, params, runs = chain.llm.chat_model.client, sampling_params(chain), []
    for round_number in range(rounds):
        for index, (question, messages) in enumerate(picked):
            order = ("chain", "raw") if (round_number + index) % 2 == 0 else ("raw", "chain")
            for variant in order:
                llama.reset()
                run = run_chain(chain, question) if variant == "chain" else \
                    run_raw(chain, messages, params)
                runs.append({"round": round_number, "question": question, "variant": variant, **run})
                say(f"round {round_number + 1} q{index + 1} {variant:5}: TTFT {run['ttft_ms'] or 0:.0f} ms, "
                    f"{run['tokens']} tokens, {run['tok_s'] or 0:.1f} tok/s")
    return runs


def summarise_overhead(runs: list[dict[str, Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for variant in ("chain", "raw"):
        mine = [r for r in runs if r["variant"] == variant]
        summary[variant] = {
            "ttft_ms_median": median([r["ttft_ms"] for r in mine if r["ttft_ms"] is not None]),
            "tok_s_median": median([r["tok_s"] for r in mine if r["tok_s"] is not None]),
            "tokens_median": median([r["tokens"] for r in mine]),
            "total_ms_median": median([r["total_ms"] for r in mine]),
            "runs": len(mine),
        }
    chain_ttft, raw_ttft = summary["chain"]["ttft_ms_median"], summary["raw"]["ttft_ms_median"]
    summary["chain"]["internal_ttft_ms_median"] = median(
        [r["internal_ttft_ms"] for r in runs if r.get("internal_ttft_ms") is not None])
    summary["ttft_overhead"] = (chain_ttft - raw_ttft) / raw_ttft if chain_ttft and raw_ttft else None
    summary["paired_ttft_ratio_median"] = median(paired_ratios(runs))
    return summary


def paired_ratios(runs: list[dict[str, Any]]) -> list[float]:
    """chain TTFT / raw TTFT of the same question in the same round (back-to-back calls)."""
    raw = {(r["round"], r["question"]): r["ttft_ms"] for r in runs if r["variant"] == "raw"}
    return [r["ttft_ms"] / raw[key] for r in runs if r["variant"] == "chain"
            and (key := (r["round"], r["question"])) in raw and r["ttft_ms"] and raw[key]]


def bench_overhead(index_settings: Any, embedder: Any, questions: list[Any], wanted: int,
                   rounds: int, gguf: str) -> dict[str, Any]:
    from app.components import open_chain

    settings = index_settings.model_copy(update={"gguf": gguf})
    chain = open_chain(settings, on_status=say, embedder=embedder)
    picked = pick_overhead_questions(chain, questions, wanted)
    say(f"(a) {len(picked)} questions, {rounds} rounds, prompts of "
        f"{[chain.llm.count_tokens(''.join(c for _, c in m)) for _, m in picked]} tokens")
    warm_up(chain, picked[0][0], sampling_params(chain))
    runs = overhead_rounds(chain, picked, rounds)
    last = runs[-1]
    check = cache_check(chain, last, dict(picked)[last["question"]], sampling_params(chain))
    return {"model": chain.llm.model, "questions": [q for q, _ in picked], "rounds": rounds,
            "cache_check": check, "summary": summarise_overhead(runs), "runs": runs}


# ---------------------------------------------------------------- (b) quality per model


def open_model_chains(index_settings: Any, embedder: Any, names: list[str]) -> dict[str, Any]:
    """One chain per catalog model. The GGUF is given by its path in the user's data/models: a
    catalog name would resolve under the eval index's data dir and be installed a second time."""
    from app.components import open_chain
    from app.llm.catalog import find_model

    def settings(name: str) -> Any:
        return index_settings.model_copy(update={"gguf": str(find_model(name).path(MODELS_DIR))})

    return {name: open_chain(settings(name), on_status=say, embedder=embedder) for name in names}


def answer_interleaved(chains: dict[str, Any], questions: list[Any]) -> dict[str, list[Any]]:
    """Every question answered by every model before the next question; model order rotates."""
    names, answers = list(chains), {name: [] for name in chains}
    for number, question in enumerate(questions):
        shift = number % len(names)
        for name in names[shift:] + names[:shift]:
            answer = chains[name].answer(question.question)
            answers[name].append(answer)
            say(f"(b) q{number + 1}/{len(questions)} {name}: "
                f"{answer.timings.get('total_ms', 0) / 1000:.1f} s, refused={answer.refused}, "
                f"{answer.text[:70]!r}")
    return answers


def score_models(questions: list[Any], answers: dict[str, list[Any]]) -> dict[str, Any]:
    from app.eval.answers import evaluate_answers

    results = {}
    for name, given in answers.items():
        pending = iter(given)
        records, summary = evaluate_answers(questions, lambda _question, it=pending: next(it))
        results[name] = {"summary": summary, "records": records}
    return results


def bench_models(index_settings: Any, embedder: Any, questions: list[Any],
                 names: list[str]) -> dict[str, Any]:
    chains = open_model_chains(index_settings, embedder, names)
    say(f"(b) {len(questions)} questions x {len(chains)} models: {', '.join(chains)}")
    return score_models(questions, answer_interleaved(chains, questions))


# ---------------------------------------------------------------- report


def print_overhead(result: dict[str, Any]) -> None:
    summary = result["summary"]
    print(f"\n(a) chain vs raw llama.cpp, {Path(result['model']).name}, "
          f"{len(result['questions'])} questions x {result['rounds']} rounds (medians)")
    for variant in ("chain", "raw"):
        row = summary[variant]
        print(f"  {variant:5} TTFT {row['ttft_ms_median']:.0f} ms, {row['tok_s_median']:.1f} tok/s, "
              f"{row['tokens_median']} tokens, total {row['total_ms_median']:.0f} ms")
    print(f"  TTFT overhead {summary['ttft_overhead'] * 100:+.1f} % (target < 10 %), median of "
          f"paired ratios {summary['paired_ttft_ratio_median']:.3f}; "
          f"cache check: reset {result['cache_check']['after_reset_ttft_ms']:.0f} ms, "
          f"cached {result['cache_check']['cached_ttft_ms']:.0f} ms")


def fmt(value: float | None, scale: float = 1.0, digits: int = 3) -> str:
    return "-" if value is None else f"{value * scale:.{digits}f}"


def print_models(results: dict[str, Any]) -> None:
    print("\n(b) model | n | token recall | contains | F1 | refusal | cited | TTFT p50/p95 s | "
          "total p50/p95 s")
    for name, result in results.items():
        s = result["summary"]
        ttft, total = s["first_token_ms"], s["total_ms"]
        print(f"  {name} | {s['answered']} | {fmt(s['token_recall']['mean'])} | "
              f"{fmt(s['contains']['mean'])} | {fmt(s['f1']['mean'])} | {fmt(s['refusal_rate'])} | "
              f"{fmt(s['cited_rate'])} | {fmt(ttft.get('p50'), 1e-3, 1)}/{fmt(ttft.get('p95'), 1e-3, 1)} | "
              f"{fmt(total.get('p50'), 1e-3, 1)}/{fmt(total.get('p95'), 1e-3, 1)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=int, default=30, help="questions per model in (b)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of chain/raw pairs in (a)")
    parser.add_argument("--overhead-questions", type=int, default=5, help="questions in (a)")
    parser.add_argument("--gguf", default=str(REPO / DEFAULT_GGUF), help="model of (a)")
    parser.add_argument("--models", default=",".join(MODELS), help="catalog models for (b)")
    parser.add_argument("--skip", choices=("overhead", "models"), help="leave out one part")
    parser.add_argument("--out", type=Path, default=REPO / "bench-results" / "answer.json")
    args = parser.parse_args()
    os.chdir(REPO)  # the settings' data dir and the eval index recipe are relative to the repository
    index_settings = eval_index_settings()

    from app.components import open_embedder

    embedder = open_embedder(index_settings)
    questions = load_dev_questions(args.questions)
    results: dict[str, Any] = {"index": str(index_settings.data_dir), "threads": index_settings.llm_threads}
    if args.skip != "overhead":
        results["overhead"] = bench_overhead(index_settings, embedder, questions,
                                             args.overhead_questions, args.rounds, args.gguf)
        print_overhead(results["overhead"])
    if args.skip != "models":
        results["models"] = bench_models(index_settings, embedder, questions, args.models.split(","))
        print_models(results["models"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1, default=str))
    print(f"\nresults: {args.out}")


if __name__ == "__main__":
    main()
