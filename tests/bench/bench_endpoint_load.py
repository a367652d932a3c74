"""Load on localrag's OpenAI-compatible endpoint: 1, 4 and 8 clients at once, each asking its
own document 3 questions in a row (streamed, the official ``openai`` client), against
(a) ``localrag serve`` with the embedded llama.cpp backend (one generation at a time) and
(b) ``localrag serve`` with the ``openai`` backend in front of llama.cpp's own server
    (xllamacpp's llama-server, ``--parallel 4``: four slots, continuous batching),
on the same GGUF, the same library and the same questions, in one run.

Per arm and level: answers per minute (answers / wall time of the level), time to first
content (the quote, found in code before the model starts) and time to first answer sentence
(the model's first checked sentence: what waiting for the model costs), p50 and p95, and how
many answers cite their own document. Everything listens on 127.0.0.1; every request has a
timeout and every level a time budget (a level over it stops asking and says so).

Arm (b) needs the ``openai`` backend (LOCALRAG_LLM_BACKEND=openai, LOCALRAG_OPENAI_URL,
LOCALRAG_OPENAI_MODEL); where it is missing the arm reports why and the run goes on.

Usage (0.5B model, both arms, about 20 minutes on 2 busy cores):
    .venv/bin/python tests/bench/bench_endpoint_load.py --out bench-results/endpoint_load.json
    .venv/bin/python tests/bench/bench_endpoint_load.py --arms embedded --levels 1,4
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from app.offline import apply_offline_env  # noqa: E402

apply_offline_env()

# One document per client: three distinctive facts on its pages, one question each.
SUBJECTS = ["Skerry Point lighthouse", "Morrow Bay tide gauge", "Kestrel Hill orchard",
            "Brightwater depot", "Northgate tunnel", "Harbor Authority", "Linden Street library",
            "Alder Creek dam"]
FACTS = [("was built in {year} by the firm {firm}", "When was the {subject} built?"),
         ("employs {staff} people on three shifts", "How many people does the {subject} employ?"),
         ("is inspected every {months} months by {inspector}",
          "Who inspects the {subject}?")]
FIRMS = ["Halvorsen Marine", "Reyes & Sons", "Conference Growers", "Tallow Works",
         "Granite Bore", "Meridian Dredging", "Oakleaf Builders", "Ridgeway Civil"]
INSPECTORS = ["Ingrid Dahl", "Tomas Ruiz", "Mara Kent", "Olu Adeyemi", "Petra Novak",
              "Sven Holm", "Aiko Mori", "Lena Brandt"]
SERVER_SCRIPT = """
import sys, time
import xllamacpp as x
params = x.CommonParams()
params.model.path = sys.argv[1]
params.n_parallel = int(sys.argv[2])
params.n_ctx = int(sys.argv[3]) * params.n_parallel  # each slot as large as the embedded window
params.cpuparams.n_threads = int(sys.argv[4])
params.cpuparams_batch.n_threads = int(sys.argv[4])
params.hostnames = ["127.0.0.1"]
server = x.Server(params)
print(server.listening_address, flush=True)
while True:
    time.sleep(3600)
"""


def documents() -> dict[str, tuple[list[str], list[tuple[str, str]]]]:
    """file name -> (pages, [(question, the fact's distinctive word)])."""
    from pdfgen import prose

    out = {}
    for i, subject in enumerate(SUBJECTS):
        values = {"subject": subject, "year": 1931 + 7 * i, "firm": FIRMS[i],
                  "staff": 40 + 13 * i, "months": 3 + i, "inspector": INSPECTORS[i]}
        answers = [FIRMS[i].split()[0], str(values["staff"]), INSPECTORS[i].split()[-1]]
        pages, asked = [prose(f"{subject} history")], []
        for (fact, question), word in zip(FACTS, answers, strict=True):
            pages.append(f"The {subject} {fact.format(**values)}. " + prose(f"{subject} works", 4))
            asked.append((question.format(**values), word))
        out[f"doc{i}.pdf"] = (pages, asked)
    return out


def percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_serve(data: Path, env: dict[str, str], log: Path) -> tuple[subprocess.Popen, str]:
    import httpx

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port),
                               "--no-watch"], env={**env, "LOCALRAG_DATA_DIR": str(data)},
                              stdout=log.open("w"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"localrag serve exited: {log.read_text()[-600:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=2).status_code == 200:
                return server, f"http://127.0.0.1:{port}/v1"
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    server.kill()
    raise TimeoutError("localrag serve did not start in 300 s")


def start_llama_server(gguf: Path, slots: int, ctx: int, threads: int, log: Path
                       ) -> tuple[subprocess.Popen, str, str]:
    """xllamacpp's llama-server on 127.0.0.1: (process, its /v1 URL, its model id)."""
    import httpx

    process = subprocess.Popen([sys.executable, "-c", SERVER_SCRIPT, str(gguf), str(slots),
                                str(ctx), str(threads)], stdout=subprocess.PIPE,
                               stderr=log.open("w"), text=True)
    address = (process.stdout.readline() if process.stdout else "").strip()
    if not address:
        raise RuntimeError(f"llama-server did not start: {log.read_text()[-600:]}")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            models = httpx.get(f"{address}/v1/models", timeout=2).json()["data"]
            return process, f"{address}/v1", models[0]["id"]
        except (httpx.HTTPError, KeyError, IndexError, ValueError):
            time.sleep(0.5)
    process.kill()
    raise TimeoutError("llama-server did not answer in 120 s")


def one_client(url: str, name: str, questions: list[tuple[str, str]], deadline: float,
               results: list[dict]) -> None:
    import openai

    client = openai.OpenAI(base_url=url, api_key="bench", max_retries=0, timeout=900)
    for question, word in questions:
        if time.monotonic() > deadline:
            results.append({"file": name, "skipped": "level over its time budget"})
            continue
        started = time.perf_counter()
        first_content = first_sentence = None
        text, extra = "", {}
        try:
            for chunk in client.chat.completions.create(
                    model="localrag", stream=True,
                    messages=[{"role": "user", "content": question}]):
                piece = chunk.choices[0].delta.content or "" if chunk.choices else ""
                now = (time.perf_counter() - started) * 1000
                if piece and first_content is None:
                    first_content = now
                if piece and not piece.startswith("From your documents") and first_sentence is None:
                    first_sentence = now
                text += piece
                extra = (chunk.model_extra or {}).get("localrag") or extra
        except Exception as err:  # counted, and the run goes on
            results.append({"file": name, "error": f"{type(err).__name__}: {err}"})
            continue
        cited = {s["file"] for s in extra.get("sources", []) if s.get("cited")}
        results.append({"file": name, "question": question, "total_ms": (time.perf_counter() -
                        started) * 1000, "first_content_ms": first_content,
                        "first_sentence_ms": first_sentence, "refused": extra.get("refused"),
                        "has_fact": word in text, "cites_own": cited == {name}})


def run_level(url: str, docs: dict, clients: int, questions: int, budget_s: float) -> dict:
    names = list(docs)[:clients]
    results: list[dict] = []
    deadline = time.monotonic() + budget_s
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    threads = [threading.Thread(target=one_client, args=(url, name, docs[name][1][:questions],
                                                          deadline, results)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    done = [r for r in results if "total_ms" in r]
    firsts = [r["first_content_ms"] for r in done if r["first_content_ms"] is not None]
    sentences = [r["first_sentence_ms"] for r in done if r["first_sentence_ms"] is not None]
    return {
        "clients": clients, "answers": len(done), "wall_s": round(wall, 1),
        "answers_per_min": round(60 * len(done) / wall, 2),
        "first_content_p50_ms": percentile(firsts, 0.5),
        "first_content_p95_ms": percentile(firsts, 0.95),
        "ttft_p50_ms": percentile(sentences, 0.5), "ttft_p95_ms": percentile(sentences, 0.95),
        "with_fact": sum(r["has_fact"] for r in done),
        "citing_own_document_only": sum(r["cites_own"] for r in done),
        "refused": sum(bool(r["refused"]) for r in done),
        "errors": [r["error"] for r in results if "error" in r],
        "skipped": sum("skipped" in r for r in results),
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "runs": results,
    }


def run_arm(arm: str, data: Path, env: dict[str, str], docs: dict, levels: list[int],
            questions: int, budget_s: float, work: Path) -> dict:
    print(f"== arm {arm}", flush=True)
    serve, url = start_serve(data, env, work / f"serve-{arm}.log")
    try:
        one_client(url, "warm-up", [("warm-up: when was the Skerry Point lighthouse built?",
                                     "")], time.monotonic() + 600, [])
        out = {}
        for clients in levels:
            level = run_level(url, docs, clients, questions, budget_s)
            out[str(clients)] = level
            print(f"{arm:9} {clients} clients: {level['answers']} answers in {level['wall_s']} s "
                  f"= {level['answers_per_min']}/min; first sentence p50 {level['ttft_p50_ms']} "
                  f"p95 {level['ttft_p95_ms']} ms; own document only "
                  f"{level['citing_own_document_only']}/{level['answers']}; load "
                  f"{level['load_average']}", flush=True)
        return out
    finally:
        serve.terminate()
        serve.wait(timeout=60)


def main() -> None:
    from app.llm.catalog import find_model

    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="qwen2.5-0.5b", help="catalog model")
    parser.add_argument("--arms", default="embedded,server")
    parser.add_argument("--levels", default="1,4,8")
    parser.add_argument("--questions", type=int, default=3, help="per client (at most 3)")
    parser.add_argument("--slots", type=int, default=4, help="llama-server --parallel")
    parser.add_argument("--threads", type=int, default=2, help="llama.cpp threads, both arms")
    parser.add_argument("--ctx", type=int, default=4096, help="context per generation")
    parser.add_argument("--level-budget-s", type=float, default=900,
                        help="a level stops asking new questions after this long")
    parser.add_argument("--out", type=Path, default=REPO / "bench-results" / "endpoint_load.json")
    args = parser.parse_args()
    levels = [int(n) for n in args.levels.split(",")]
    if max(levels) > len(SUBJECTS) or not 1 <= args.questions <= len(FACTS):
        parser.error(f"at most {len(SUBJECTS)} clients and {len(FACTS)} questions")
    gguf = find_model(args.model).path(REPO / "data" / "models")
    work = Path(tempfile.mkdtemp(prefix="bench-endpoint-"))
    docs = documents()
    from pdfgen import write_pdf

    for name, (pages, _) in docs.items():
        write_pdf(work / "docs" / name, pages)
    env = {**os.environ, "PYTHONPATH": str(REPO), "LOCALRAG_GGUF": str(gguf),
           "LOCALRAG_LLM_THREADS": str(args.threads)}
    env.pop("LOCALRAG_API_TOKEN", None)
    subprocess.run([sys.executable, "-m", "app.cli", "ingest", str(work / "docs")],
                   env={**env, "LOCALRAG_DATA_DIR": str(work / "data")}, check=True,
                   capture_output=True)
    report: dict = {"model": args.model, "gguf": gguf.name, "levels": levels,
                    "questions_per_client": args.questions, "slots": args.slots,
                    "threads": args.threads, "cpus": os.cpu_count(), "arms": {}}
    for arm in args.arms.split(","):
        llama = None
        try:
            if arm == "embedded":
                arm_env = {**env, "LOCALRAG_LLM_BACKEND": "llamacpp"}
            elif arm == "server":
                llama, url, model = start_llama_server(gguf, args.slots, args.ctx, args.threads,
                                                       work / "llama-server.log")
                arm_env = {**env, "LOCALRAG_LLM_BACKEND": "openai", "LOCALRAG_OPENAI_URL": url,
                           "LOCALRAG_OPENAI_MODEL": model}
            else:
                parser.error(f"unknown arm {arm!r}: embedded or server")
            report["arms"][arm] = run_arm(arm, work / "data", arm_env, docs, levels,
                                          args.questions, args.level_budget_s, work)
        except (RuntimeError, TimeoutError) as err:
            print(f"arm {arm} not run: {err}", flush=True)
            report["arms"][arm] = {"not_run": str(err)}
        finally:
            if llama is not None:
                llama.terminate()
                llama.wait(timeout=60)
    top = str(max(levels))
    rates = [report["arms"].get(a, {}).get(top, {}).get("answers_per_min") for a in
             ("embedded", "server")]
    if all(rates) and rates[0]:
        report[f"server_vs_embedded_at_{top}"] = round(rates[1] / rates[0], 2)
        print(f"server / embedded answers per minute at {top} clients: "
              f"{report[f'server_vs_embedded_at_{top}']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
