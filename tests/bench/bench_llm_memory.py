"""Model memory and kernel benchmark: the embedded backend with the GGUF mapped (llama.cpp
``use_mmap``) or read into memory (``LOCALRAG_LLM_MMAP``), with llama.cpp's weight repacking on or
off, and with other builds of llama-cpp-python (``--build NAME=DIR``, a ``pip install --target``
folder put first on the path); each arm in a fresh process, alternated ``--rounds`` times in one
run.

Each process opens the backend exactly as the app does (``open_llm``), then answers the same
prompt (about ``--prompt-tokens`` tokens of passage and a question) twice with the prompt cache
cleared. Reported per arm, medians over the rounds: load time, resident memory after loading and
after answering (VmRSS, split into anonymous memory and file pages), time to first token and
generation tokens/s; with the load average of the run.

Why: on CPUs with AVX-512 llama.cpp repacks most Q4 weights into anonymous buffers, so a mapped
file stays resident next to the repacked copy. On CPUs with AMX a build with AMX kernels crashes
(llama.cpp #20824): ``make setup`` builds without them, the app does not repack for a build
that has them (an arm that asks for repacking gets what the app gives); the arms say what each
costs. Repacking itself is off by default (``LOCALRAG_LLM_REPACK``): the ``no-repack`` arm.

Usage (from the repository root):
    .venv/bin/python tests/bench/bench_llm_memory.py --rounds 3 --out bench-results/llm-memory.json
    .venv/bin/python tests/bench/bench_llm_memory.py --arms read,no-repack \
        --build amx=.venv/lib/python3.11/site-packages --build no-amx=/tmp/llama-no-amx
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).parent))

from report import emit  # noqa: E402

from app.offline import apply_offline_env  # noqa: E402

apply_offline_env()


def memory_mb() -> dict[str, int]:
    """VmRSS, RssAnon and RssFile of this process in MB."""
    fields = {}
    for line in Path(f"/proc/{os.getpid()}/status").read_text().splitlines():
        key = line.split(":")[0]
        if key in ("VmRSS", "RssAnon", "RssFile"):
            fields[key] = int(line.split()[1]) // 1024
    return fields


ARMS = {"mmap": {"mmap": True, "repack": True}, "read": {"mmap": False, "repack": True},
        "no-repack": {"mmap": False, "repack": False}}


def one_process(arm: str, prompt_tokens: int) -> dict[str, Any]:
    """Run inside the child: open, answer twice, report."""
    import llama_cpp
    from bench_gpu_offload import messages

    from app.llm.backends import open_llm
    from ingest.settings import Settings

    mmap, repack = ARMS[arm]["mmap"], ARMS[arm]["repack"]
    before = memory_mb()
    started = time.perf_counter()
    backend = open_llm(Settings(llm_backend="llamacpp", llm_mmap=mmap, llm_repack=repack))
    load_s = time.perf_counter() - started
    loaded = memory_mb()
    client = backend.chat_model.client
    prompt = messages(backend, prompt_tokens)
    ttft, rates = [], []
    for _ in range(2):
        client.reset()
        started = time.perf_counter()
        first, pieces = None, []
        for piece in backend.stream(prompt):
            first = first or time.perf_counter()
            pieces.append(piece)
        done = time.perf_counter()
        generated = backend.count_tokens("".join(pieces))
        if first is not None:
            ttft.append((first - started) * 1000)
            if generated > 1 and done > first:
                rates.append((generated - 1) / (done - first))
    answered = memory_mb()
    return {"arm": arm, "model": backend.model, "load_s": load_s,
            "amx_kernels": b"AMX_INT8 = 1" in llama_cpp.llama_print_system_info(),
            "loaded_mb": {k: loaded[k] - before[k] for k in loaded},
            "answered_mb": {k: answered[k] - before[k] for k in answered},
            "process_rss_mb": answered["VmRSS"],
            "ttft_ms": statistics.median(ttft) if ttft else None,
            "gen_tok_s": statistics.median(rates) if rates else None}


def median_of(runs: list[dict[str, Any]], *path: str) -> float | None:
    values = []
    for run in runs:
        value: Any = run
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if value is not None:
            values.append(value)
    return round(statistics.median(values), 1) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--prompt-tokens", type=int, default=1500)
    parser.add_argument("--arms", default="mmap,read", help=f"of {', '.join(ARMS)}")
    parser.add_argument("--build", action="append", default=[], metavar="NAME=DIR",
                        help="also run every arm with this llama-cpp-python first on the path")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--child", choices=list(ARMS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(one_process(args.child, args.prompt_tokens)))
        return
    builds = dict(b.split("=", 1) for b in args.build) or {"installed": ""}
    labels = [(arm, build) for build in builds for arm in args.arms.split(",")]
    runs: dict[str, list[dict[str, Any]]] = {f"{arm}@{build}": [] for arm, build in labels}
    loads = [os.getloadavg()[0]]
    for round_no in range(args.rounds):
        for arm, build in labels if round_no % 2 == 0 else labels[::-1]:
            env = dict(os.environ)
            if builds[build]:
                env["PYTHONPATH"] = os.pathsep.join(
                    p for p in (str(Path(builds[build]).resolve()), env.get("PYTHONPATH")) if p)
            done = subprocess.run(
                [sys.executable, __file__, "--child", arm, "--prompt-tokens",
                 str(args.prompt_tokens)], capture_output=True, text=True, check=True, env=env)
            run = json.loads(done.stdout.strip().splitlines()[-1])
            runs[f"{arm}@{build}"].append(run)
            loads.append(os.getloadavg()[0])
            print(f"round {round_no + 1} {arm}@{build}: {run}", file=sys.stderr, flush=True)
    report: dict[str, Any] = {"rounds": args.rounds, "load_average": [min(loads), max(loads)]}
    for label, arm_runs in runs.items():
        report[label] = {
            "model": arm_runs[0]["model"],
            "amx_kernels": arm_runs[0]["amx_kernels"],
            "load_s": median_of(arm_runs, "load_s"),
            "loaded_mb": {k: median_of(arm_runs, "loaded_mb", k)
                          for k in ("VmRSS", "RssAnon", "RssFile")},
            "answered_mb": {k: median_of(arm_runs, "answered_mb", k)
                            for k in ("VmRSS", "RssAnon", "RssFile")},
            "ttft_ms": median_of(arm_runs, "ttft_ms"),
            "gen_tok_s": median_of(arm_runs, "gen_tok_s"),
        }
    first = runs and next(iter(runs))
    for label in list(runs)[1:]:  # every arm against the first
        base, other = report[first], report[label]
        report[f"{label}_vs_{first}"] = {
            "rss_mb": round(other["answered_mb"]["VmRSS"] - base["answered_mb"]["VmRSS"], 1),
            "ttft_ratio": round(other["ttft_ms"] / base["ttft_ms"], 3),
            "gen_ratio": round(other["gen_tok_s"] / base["gen_tok_s"], 3),
            "load_ratio": round(other["load_s"] / base["load_s"], 3),
        }
    emit(report, args.out)


if __name__ == "__main__":
    main()
