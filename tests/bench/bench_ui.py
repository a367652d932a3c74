"""UI overhead: time from pressing Enter to the sources, the quote and the model's first answer
word shown in the browser, against the chain's own time to first token inside `localrag ask`, on
the same questions in one run; and the app's page load time.

The app (`localrag serve`) and the `localrag ask` code path (RagChain.stream, run in this process
with the model loaded and warmed, as a long-lived `ask` would be: a fresh `ask` process also pays
the embedding and LLM model loads) use the same index and the same GGUF. Each round asks one
question in the browser, then the same question through the chain; both clocks start before
retrieval. Questions differ between rounds so no prompt cache helps either side.

Usage (about 10 minutes):
    .venv/bin/python tests/bench/bench_ui.py --out bench-results/ui.json
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from app.offline import apply_offline_env  # noqa: E402

apply_offline_env()

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
FACTS = [
    ("Skerry Point lighthouse", "was automated in 1987 by the engineer Ingrid Halvorsen",
     "Who automated the Skerry Point lighthouse?"),
    ("Brightwater depot", "holds 412 brass lanterns and 37 fog horns",
     "How many brass lanterns does the Brightwater depot hold?"),
    ("Harbor Authority", "awarded the dredging contract to Meridian Marine for 4.7 million euros",
     "Who won the Harbor Authority dredging contract?"),
    ("community garden", "opens on Saturdays from 9 to 12 between April and October",
     "When does the community garden open?"),
    ("Northgate tunnel", "was closed for repairs for 19 days in February",
     "How long was the Northgate tunnel closed?"),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def build_corpus(folder: Path) -> None:
    from pdfgen import prose, write_pdf

    for i, (subject, fact, _) in enumerate(FACTS):
        write_pdf(folder / f"doc{i}.pdf", [prose(f"{subject} history"), prose(f"{subject} budget"),
                                           f"The {subject} {fact}. " + prose(subject, 4)])


def wait_http(url: str, process: subprocess.Popen, seconds: float = 300) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("localrag serve exited")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.3)
    raise TimeoutError(url)


def browser_times_ms(page, question: str) -> tuple[float, float, float | None]:
    """Enter pressed -> (a source card is shown, the bot message shows a word of the model's
    answer, the quote of the sources is shown above it (None when there is none))."""
    page.locator("#lr-new-chat").click()
    page.wait_for_timeout(300)
    box = page.locator("#lr-question textarea")
    box.fill(question)
    page.evaluate("""() => { window.__firstToken = null; window.__sources = null;
        window.__quote = null;
        const chat = document.querySelector('#lr-chat');
        const panel = document.querySelector('#lr-sources');
        new MutationObserver(() => { const rows = chat.querySelectorAll('.message-row');
          const last = rows[rows.length - 1];
          if (!last || rows.length < 2 || !window.__enterAt) return;
          // The quote is a block quote; the model's words are the paragraphs outside it.
          const own = [...last.querySelectorAll('p')].filter(p => !p.closest('blockquote'))
            .map(p => p.innerText).join(' ');
          if (window.__quote === null && last.querySelector('blockquote'))
            { window.__quote = performance.now(); }
          if (window.__firstToken === null && /[A-Za-z0-9]/.test(own))
            { window.__firstToken = performance.now(); } })
        .observe(chat, {subtree: true, childList: true, characterData: true});
        new MutationObserver(() => {
          if (window.__sources === null && window.__enterAt && panel.querySelector('.lr-source'))
            { window.__sources = performance.now(); } })
        .observe(panel, {subtree: true, childList: true, characterData: true}); }""")
    page.evaluate("() => { window.__enterAt = performance.now(); }")
    box.press("Enter")
    page.wait_for_function("window.__firstToken !== null && window.__sources !== null",
                           timeout=300_000)
    first = page.evaluate("window.__firstToken - window.__enterAt")
    sources = page.evaluate("window.__sources - window.__enterAt")
    quote = page.evaluate("window.__quote === null ? null : window.__quote - window.__enterAt")
    page.wait_for_function("() => { const r = document.querySelectorAll('#lr-chat .message-row');"
                           " return !r[r.length - 1].innerText.trim().endsWith('…'); }",
                           timeout=300_000)
    return float(sources), float(first), None if quote is None else float(quote)


def ask_first_token_ms(chain: object, question: str) -> float:
    return float(chain.answer(question).timings["first_token_ms"])


def main() -> None:
    from playwright.sync_api import sync_playwright

    from app.llm.catalog import find_model

    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="qwen2.5-0.5b", help="catalog model")
    parser.add_argument("--out", type=Path, default=REPO / "bench-results" / "ui.json")
    args = parser.parse_args()
    gguf = find_model(args.model).path(REPO / "data" / "models")
    work = Path(tempfile.mkdtemp(prefix="bench-ui-"))
    build_corpus(work / "docs")
    env = {**os.environ, "PYTHONPATH": str(REPO), "LOCALRAG_DATA_DIR": str(work / "data"),
           "LOCALRAG_LLM_BACKEND": "llamacpp", "LOCALRAG_GGUF": str(gguf)}
    subprocess.run([sys.executable, "-m", "app.cli", "ingest", str(work / "docs")], env=env,
                   check=True, capture_output=True)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port),
                               "--no-watch"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    rounds = []
    from app.components import open_chain
    from ingest.settings import Settings

    chain = open_chain(Settings(data_dir=work / "data", llm_backend="llamacpp", gguf=str(gguf)))
    chain.answer("warm-up: who automated the lighthouse?")
    try:
        wait_http(url, server)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                                 args=CHROMIUM_ARGS)
            loads = []
            for _ in range(5):
                page = browser.new_page()
                started = time.perf_counter()
                page.goto(url)
                page.wait_for_selector("#lr-question textarea")
                loads.append((time.perf_counter() - started) * 1000)
                page.close()
            page = browser.new_page()
            page.goto(url)
            page.wait_for_selector("#lr-question textarea")
            browser_times_ms(page, "warm-up: who automated the lighthouse?")
            for _, _, question in FACTS * 2:
                sources_ms, ui_ms, quote_ms = browser_times_ms(page, question)
                cli_ms = ask_first_token_ms(chain, question)
                rounds.append({"question": question, "browser_ms": ui_ms, "ask_ms": cli_ms,
                               "sources_ms": sources_ms, "quote_ms": quote_ms})
                print(f"{question[:50]:<50} sources {sources_ms:6.0f} ms  quote "
                      f"{quote_ms or 0:6.0f} ms  browser {ui_ms:7.0f} ms  ask {cli_ms:7.0f} ms",
                      flush=True)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=60)
    ui = statistics.median(r["browser_ms"] for r in rounds)
    cli = statistics.median(r["ask_ms"] for r in rounds)
    overhead = statistics.median(r["browser_ms"] - r["ask_ms"] for r in rounds)
    sources = sorted(r["sources_ms"] for r in rounds)
    quotes = sorted(r["quote_ms"] for r in rounds if r["quote_ms"] is not None)
    report = {"model": args.model, "rounds": rounds, "page_load_ms": loads,
              "sources_median_ms": statistics.median(sources),
              "sources_p95_ms": sources[min(len(sources) - 1, int(0.95 * len(sources)))],
              "quotes_shown": len(quotes),
              "quote_median_ms": statistics.median(quotes) if quotes else None,
              "quote_p95_ms": quotes[min(len(quotes) - 1, int(0.95 * len(quotes)))]
              if quotes else None,
              "load_average": os.getloadavg()[0],
              "page_load_median_ms": statistics.median(loads), "browser_ttft_median_ms": ui,
              "ask_ttft_median_ms": cli, "overhead_median_ms": overhead}
    print(f"page load median {report['page_load_median_ms']:.0f} ms; sources shown: median "
          f"{report['sources_median_ms']:.0f} ms, p95 {report['sources_p95_ms']:.0f} ms; first "
          f"token: browser {ui:.0f} ms, ask {cli:.0f} ms; UI overhead (median of differences) "
          f"{overhead:.0f} ms")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
