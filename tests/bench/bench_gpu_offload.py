"""GPU offload benchmark: the embedded backend (llama.cpp through `app.llm.backends.open_llm`, the path
`localrag serve` and `ask` use) with every layer on the CPU and with the Modelfile's offload.

For each `--layers` value the backend is opened exactly as the app opens it (settings ->
Modelfile -> ChatLlamaCpp), then the same answer prompt (a passage of about `--prompt-tokens`
tokens and a question) is streamed `--rounds` times with the prompt cache cleared before each
round, so every round pays full prompt processing. Reported per setting: what the backend says of
offload (`gpu_offload_supported`, layers), load time, medians of time to first token and of
generation tokens/s, and the GPU memory the process holds (nvidia-smi, when there is one).

Needs a llama-cpp-python built with a GPU backend to show any offload; on a CPU build both
settings run on the CPU and the report says `gpu_offload_supported: false`.

Usage (from the repository root):
    .venv/bin/python tests/bench/bench_gpu_offload.py --gguf data/models/smollm2-135m-instruct-q4_1.gguf \
        --layers 0,99 --rounds 5 --out bench-results/gpu-offload.json
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from report import emit  # noqa: E402

from app.offline import apply_offline_env  # noqa: E402

apply_offline_env()

PASSAGE = (
    "The outbreak was first reported in December 2019. Patients presented with fever, dry cough "
    "and fatigue; a minority developed shortness of breath within a week. The median incubation "
    "period was estimated at 5.2 days, and 95 % of cases showed symptoms within 12.5 days. "
)
QUESTION = "What was the median incubation period, and within how many days did most cases show symptoms?"


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def gpu_memory_mib(pid: int) -> int | None:
    """GPU memory held by ``pid`` according to nvidia-smi; None where there is no NVIDIA GPU."""
    if shutil.which("nvidia-smi") is None:
        return None
    out = subprocess.run(
        ["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"],
        capture_output=True, text=True, check=False,
    ).stdout
    for line in out.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 2 and parts[0] == str(pid):
            return int(parts[1])
    return 0


def messages(backend: Any, prompt_tokens: int) -> list[tuple[str, str]]:
    repeats = max(1, prompt_tokens // max(1, backend.count_tokens(PASSAGE)))
    sources = f"[1] incubation.pdf, page 3\n{PASSAGE * repeats}"
    return [("system", backend.system_prompt),
            ("human", f"Sources:\n{sources}\n\nQuestion: {QUESTION}")]


def measure(gguf: str, layers: int, rounds: int, prompt_tokens: int) -> dict[str, Any]:
    from app.llm.backends import open_llm
    from ingest.settings import Settings

    settings = Settings(llm_backend="llamacpp", gguf=gguf, gpu_layers=layers)
    started = time.perf_counter()
    backend = open_llm(settings)
    load_s = time.perf_counter() - started
    client = backend.chat_model.client
    prompt = messages(backend, prompt_tokens)
    ttft, rates, answer = [], [], ""
    for round_no in range(rounds):
        client.reset()
        if getattr(client, "cache", None) is not None:
            client.set_cache(None)
        started = time.perf_counter()
        first = None
        pieces = []
        for piece in backend.stream(prompt):
            if first is None:
                first = time.perf_counter()
            pieces.append(piece)
        done = time.perf_counter()
        answer = "".join(pieces)
        generated = backend.count_tokens(answer)
        if first is not None:
            ttft.append((first - started) * 1000)
            if generated > 1 and done > first:
                rates.append((generated - 1) / (done - first))
        say(f"layers={layers} round {round_no + 1}: ttft {ttft[-1]:.0f} ms, "
            f"{rates[-1] if rates else 0:.1f} tok/s")
    result = {
        "layers_setting": layers,
        "details": backend.details,
        "load_s": round(load_s, 2),
        "prompt_tokens": sum(backend.count_tokens(text) for _, text in prompt),
        "ttft_ms_median": round(statistics.median(ttft), 1) if ttft else None,
        "gen_tokens_per_s_median": round(statistics.median(rates), 1) if rates else None,
        "gpu_memory_mib": gpu_memory_mib(os.getpid()),
        "answer": answer[:300],
    }
    del backend, client
    gc.collect()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gguf", required=True, help="catalog name or .gguf path")
    parser.add_argument("--layers", default="0,99", help="comma-separated n_gpu_layers values")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--prompt-tokens", type=int, default=1500)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    import llama_cpp

    report: dict[str, Any] = {
        "llama_cpp_python": llama_cpp.__version__,
        "gpu_offload_supported": bool(llama_cpp.llama_supports_gpu_offload()),
        "gguf": args.gguf,
        "runs": [measure(args.gguf, int(n), args.rounds, args.prompt_tokens)
                 for n in args.layers.split(",")],
    }
    runs = report["runs"]
    cpu = next((r for r in runs if r["layers_setting"] == 0), None)
    for run in runs:
        if cpu is not None and run is not cpu and run["ttft_ms_median"] and \
                run["gen_tokens_per_s_median"] and cpu["gen_tokens_per_s_median"]:
            run["ttft_speedup_vs_cpu"] = round(cpu["ttft_ms_median"] / run["ttft_ms_median"], 1)
            run["gen_speedup_vs_cpu"] = round(
                run["gen_tokens_per_s_median"] / cpu["gen_tokens_per_s_median"], 1)
    emit(report, args.out)


if __name__ == "__main__":
    main()
