"""A library of 10,000+ documents and a million chunks (issue 17): what a user waits for.

The library is built from a real index (covidqa, 98 papers, 5,426 chunks, ingested by
localrag) by replicating its documents through the registry and store code
(``replicated_library.build_replicated``): each copy its own document id, keyword rows, vectors
(the original's plus noise) and a real file (a hard link to the original PDF, so an unchanged
re-ingest and the watch folder's start-up see 10,000+ real files). Embedding a million chunks
would take about nine hours on 2 cores.

Stages (``--stages``, default all), each timed at the library given by ``--library`` and, where
the figure is about size, side by side with ``--small`` (the 100k copy) or an empty library:
- ``retrieval``: hybrid search p50/p95 with and without the query embedding (covidqa dev
  questions), per stage;
- ``disk``: bytes per chunk (vectors, Chroma's own tables, registry with keyword index);
- ``docs``: ``localrag docs`` and ``localrag status`` as a user runs them (a new process);
- ``library``: the Library tab's view (count line, one page of rows) and a search by name, as the
  app computes them; the rows it sends;
- ``watch``: the watch folder's start-up (inotify on every folder, then the comparison of every
  file with the index): nothing may be queued;
- ``reingest``: ``localrag ingest`` of every file of the library, unchanged: nothing indexed;
- ``delete``: removing one document (its chunks from Chroma and the keyword index);
- ``ingest``: ``localrag ingest`` of the same 10 new papers into an empty library and into the
  large one: peak RSS and chunks/s side by side (then removed again); ``ingest-server`` the same
  with each library's vectors served by `chroma run`;
- ``serve``: ``localrag serve`` start-up until it answers, and its RSS after a question, empty
  library vs the large one;
- ``server``: the same dense search against ``chroma run`` serving the index vs embedded, and the
  whole hybrid search through the server.

Over 400 lines because its ten stages are short functions over the same built library, sharing
its paths and timing helpers; apart they would import each other.

Usage (from the repository root; the build takes about an hour, the stages about 20 minutes):
    .venv/bin/python tests/bench/bench_scale.py build --source data/eval/covidqa-<hash> \
        --work /tmp/scale
    .venv/bin/python tests/bench/bench_scale.py measure --work /tmp/scale \
        --out bench-results/scale.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(REPO / "tests"))
EVAL = REPO.parent / "shared" / "eval"

from replicated_library import build_replicated  # noqa: E402

from app.offline import apply_offline_env  # noqa: E402

apply_offline_env()

STAGES = ("retrieval", "disk", "docs", "library", "watch", "reingest", "delete", "ingest",
          "ingest-server", "serve", "server")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def stats(values: list[float]) -> dict[str, float]:
    return {"p50": round(statistics.median(values), 2), "p95": round(percentile(values, 0.95), 2),
            "n": len(values)}


def timed(action: Callable[[], Any], repeat: int) -> tuple[dict[str, float], Any]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = action()
        times.append((time.perf_counter() - started) * 1000)
    return stats(times), result


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def env_for(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "LOCALRAG_DATA_DIR": str(data_dir),
           "HF_HUB_OFFLINE": "1", **extra}
    env.pop("LOCALRAG_API_TOKEN", None)
    return env


def cli(data_dir: Path, *args: str, **extra: str) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "app.cli", *args], env=env_for(data_dir, **extra),
                          capture_output=True, text=True)
    return time.perf_counter() - started, done


def questions(n: int) -> list[str]:
    rows = [json.loads(line) for line in (EVAL / "covidqa" / "questions_dev.jsonl").open()]
    return [r["question"] for r in rows if not r.get("context_dependent")][:n]


# -- build --------------------------------------------------------------------------------------
def build(args: argparse.Namespace) -> None:
    from ingest.embed import Embedder

    embedder = Embedder("all-MiniLM-L6-v2")
    work = args.work
    started = time.perf_counter()
    log: list[dict[str, float]] = []

    def report(documents: int, chunks: int) -> None:
        seconds = time.perf_counter() - started
        log.append({"seconds": round(seconds, 1), "documents": documents, "chunks": chunks})
        print(f"{seconds:7.0f} s  {documents:,} documents  {chunks:,} chunks  load {load()}",
              file=sys.stderr, flush=True)

    library = work / "library"
    count = build_replicated(args.source, library, args.small, embedder,
                             files_dir=work / "files", report=report)
    if not (work / "small").exists():
        shutil.copytree(library, work / "small")
    count = build_replicated(args.source, library, args.chunks, embedder,
                             documents_wanted=args.documents, files_dir=work / "files",
                             report=report)
    (work / "build.json").write_text(json.dumps({"chunks": count, "rounds": log}, indent=1))


# -- stages -------------------------------------------------------------------------------------
def stage_retrieval(library: Path, small: Path, embedder: Any, n: int) -> dict:
    from bench_retrieval import measure

    asked = questions(n)
    return {"small": measure(small, embedder, asked, 4),
            "large": measure(library, embedder, asked, 4)}


def directory_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def stage_disk(library: Path, chunks: int) -> dict:
    index = library / "index"
    vectors = sum(directory_bytes(d) for d in index.iterdir() if d.is_dir())
    chroma_sqlite = (index / "chroma.sqlite3").stat().st_size
    registry = (library / "registry.sqlite3").stat().st_size
    total = vectors + chroma_sqlite + registry
    return {"chunks": chunks, "bytes": total, "bytes_per_chunk": round(total / chunks),
            "vector_segment_per_chunk": round(vectors / chunks),
            "chroma_sqlite_per_chunk": round(chroma_sqlite / chunks),
            "registry_per_chunk": round(registry / chunks)}


def stage_docs(library: Path) -> dict:
    out = {}
    for command in (["docs"], ["status"], ["--version"]):
        runs = []
        for _ in range(3):
            seconds, done = cli(library, *command)
            if done.returncode:
                raise RuntimeError(f"localrag {command[0]} failed: {done.stderr[-400:]}")
            runs.append(seconds)
        out[" ".join(command)] = {"seconds_median": round(statistics.median(runs), 2),
                                  "lines": len(done.stdout.splitlines())}
    return out


def stage_library(library: Path, repeat: int) -> dict:
    """The Library tab's computations, through the Library the app uses (its reader
    connection); the Gradio round trip is not included."""
    from app.owner.library import Library
    from ingest.settings import Settings

    opened = time.perf_counter()
    owner = Library(Settings(data_dir=library))
    open_s = time.perf_counter() - opened
    try:
        view = _library_view(owner)
        first, rows = timed(lambda: view(""), 1)
        refresh, rows = timed(lambda: view(""), repeat)
        search, found = timed(lambda: view("covid_1560"), repeat)
        missing, none = timed(lambda: view("no such report"), repeat)
        before = _library_view_before(owner)
        before_view, _ = timed(lambda: before(""), max(3, repeat // 4))
        before_search, _ = timed(lambda: before("covid_1560"), max(3, repeat // 4))
    finally:
        owner.close()
    return {"library_open_s": round(open_s, 2), "first_view_ms": first, "view_ms": refresh,
            "rows_sent": rows, "search_by_name_ms": search, "rows_found": found,
            "search_nothing_ms": missing, "rows_for_nothing": none,
            "before_view_ms": before_view, "before_search_ms": before_search}


def _library_view(owner: Any) -> Callable[[str], int]:
    """What LibraryPage.view reads and renders: counts by status, one page of each status."""
    from app.ui import render
    from ingest.registry import FAILED, INDEXED

    def view(query: str) -> int:
        counts = owner.status_counts()
        shown = owner.documents_page(INDEXED, query, 0, render.LIBRARY_PER_PAGE)
        failed = owner.documents_page(FAILED, query, 0, render.LIBRARY_PER_PAGE)
        render.count_line(counts.get(INDEXED, 0), counts.get(FAILED, 0), owner.chunk_total())
        render.failed_rows(failed.documents)
        return len(render.documents_rows(shown.documents))
    return view


def _library_view_before(owner: Any) -> Callable[[str], int]:
    """The tab before its page came from SQL: every row read, the page cut in Python."""
    from library_reference import document_page

    from app.ui import render
    from ingest.registry import FAILED, INDEXED

    def view(query: str) -> int:
        indexed = list(reversed(owner.documents(INDEXED)))
        failed = list(reversed(owner.documents(FAILED)))
        shown = document_page(indexed, query, 0)
        render.failed_rows(document_page(failed, query, 0).documents)
        render.count_line(len(indexed), len(failed), owner.chunk_total())
        return len(render.documents_rows(shown.documents))
    return view


def stage_watch(library: Path, files: Path) -> dict:
    from ingest.registry import Registry
    from ingest.watch import FolderWatcher

    registry = Registry(library / "registry.sqlite3")
    applied: list[Any] = []
    watcher = FolderWatcher([files], registry, lambda paths, progress: applied.extend(paths) or [],
                            lambda paths: applied.extend(paths), report=lambda message: None)
    started = time.perf_counter()
    watcher._reconcile()  # what start() runs first, in its thread
    reconcile_s = time.perf_counter() - started
    queued, vanished = len(watcher._pending), len(watcher._gone)
    started = time.perf_counter()
    watcher.start()  # inotify on every folder, then the same reconciliation in its thread
    watcher.stop()
    start_s = time.perf_counter() - started
    registry.close()
    folders = sum(1 for _ in files.iterdir())
    file_count = sum(1 for _ in files.rglob("*.pdf"))
    return {"files": file_count, "folders": folders, "reconcile_s": round(reconcile_s, 2),
            "start_and_stop_s": round(start_s, 2), "queued": queued, "vanished": vanished,
            "applied": len(applied)}


def stage_reingest(library: Path, files: Path) -> dict:
    seconds, done = cli(library, "ingest", str(files))
    if done.returncode:
        raise RuntimeError(f"localrag ingest failed: {done.stderr[-400:]}")
    last = (done.stdout.strip().splitlines() or [""])[-1]
    return {"files": sum(1 for _ in files.rglob("*.pdf")), "seconds": round(seconds, 2),
            "summary": last}


def stage_delete(library: Path, files: Path) -> dict:
    """Remove documents one at a time (the Library's remove, as the app and `localrag remove`
    do); the files are renamed aside so the library stays what the other stages expect:
    ``restore_deleted`` puts them back and ingests them again is not needed (their hard links
    stay; a later build does not reuse them)."""
    from app.owner.library import Library
    from ingest.registry import INDEXED
    from ingest.settings import Settings

    owner = Library(Settings(data_dir=library))
    try:
        before = owner.chunk_total()
        victims = [d for d in owner.documents(INDEXED)[-5:]]
        times = []
        for doc in victims:
            started = time.perf_counter()
            owner.remove(doc.doc_id)
            times.append((time.perf_counter() - started) * 1000)
        after = owner.chunk_total()
        left = owner.retriever.store.collection.get(where={"doc_id": victims[0].doc_id},
                                                    include=[])["ids"]
    finally:
        owner.close()
    for doc in victims:  # the files go too: the re-ingest and watch stages expect no strays
        for path in doc.paths:
            Path(path).unlink(missing_ok=True)
    return {"chunks_before": before, "chunks_removed": before - after, "remove_ms": stats(times),
            "chunks_left_of_a_removed_document": len(left)}


def peak_rss_of(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run ``command`` as a child; (seconds, its peak RSS in MB, its stdout)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    _, _, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    out = process.stdout.read() if process.stdout else ""
    return seconds, usage.ru_maxrss / 1024, out


def stage_ingest(library: Path, papers: int, server: bool = False) -> dict:
    """The same new papers into an empty library and into the large one, alternating, twice.
    ``server``: each library's vectors served by its own `chroma run` (LOCALRAG_CHROMA_URL), so
    the ingest process never holds the vector index."""
    pdfs = sorted((EVAL / "covidqa" / "pdfs").glob("*.pdf"))[-papers:]
    out: dict[str, list[dict]] = {"empty": [], "large": []}
    with tempfile.TemporaryDirectory(prefix="bench-scale-ingest-") as tmp:
        inbox = Path(tmp) / "new"
        inbox.mkdir()
        for pdf in pdfs:
            os.link(pdf, inbox / pdf.name)
        for round_ in range(2):
            for arm in (("empty", "large") if round_ == 0 else ("large", "empty")):
                data = Path(tmp) / f"empty{round_}" if arm == "empty" else library
                with _chroma_server(data / "index", Path(tmp) / f"chroma-{arm}.log") \
                        if server else contextlib.nullcontext() as url:
                    extra = {"LOCALRAG_CHROMA_URL": url} if url else {}
                    seconds, rss, stdout = peak_rss_of(
                        [sys.executable, "-m", "app.cli", "ingest", str(inbox)],
                        env_for(data, **extra))
                    chunks = _chunks_of(data, inbox)
                    out[arm].append({"seconds": round(seconds, 1), "peak_rss_mb": round(rss),
                                     "chunks": chunks, "chunks_per_s": round(chunks / seconds, 1),
                                     "load": load()})
                    print(f"ingest {arm}: {out[arm][-1]}", file=sys.stderr, flush=True)
                    for pdf in inbox.iterdir():  # the large library stays as built
                        cli(data, "remove", str(pdf), **extra)
    return out


@contextlib.contextmanager
def _chroma_server(index: Path, log: Path) -> Iterator[str]:
    """`chroma run` serving ``index`` on a free port: its URL while in the block."""
    port = free_port()
    chroma = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
    index.mkdir(parents=True, exist_ok=True)
    server = subprocess.Popen([chroma, "run", "--path", str(index), "--host", "127.0.0.1",
                               "--port", str(port)], stdout=log.open("w"),
                              stderr=subprocess.STDOUT)
    try:
        _wait_chroma(port, server, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(60)


def _chunks_of(data: Path, inbox: Path) -> int:
    import sqlite3

    db = sqlite3.connect(data / "registry.sqlite3")
    try:
        return int(db.execute(
            "SELECT COALESCE(SUM(d.chunks), 0) FROM documents d JOIN paths p ON p.doc_id = "
            "d.doc_id WHERE p.path LIKE ?", (f"{inbox}/%",)).fetchone()[0])
    finally:
        db.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mb(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) of a process, MB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text()
                  .splitlines() if ":" in line)
    return (int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024)


def stage_serve(library: Path, gguf: str) -> dict:
    """`localrag serve` start-up until /v1/models answers, then its RSS before and after one
    question through /v1 (the index's vectors are loaded at the first search)."""
    import httpx

    out = {}
    with tempfile.TemporaryDirectory(prefix="bench-scale-serve-") as tmp:
        for arm, data in (("empty", Path(tmp) / "empty"), ("large", library)):
            port = free_port()
            log = Path(tmp) / f"{arm}.log"
            started = time.perf_counter()
            server = subprocess.Popen(
                [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--no-watch"],
                env=env_for(data, LOCALRAG_GGUF=gguf), stdout=log.open("w"),
                stderr=subprocess.STDOUT)
            try:
                ready = _wait_ready(server, port, log)
                start_s = time.perf_counter() - started
                rss_ready, _ = rss_mb(server.pid)
                browser = browser_times(f"http://127.0.0.1:{port}/", arm == "large")
                asked = time.perf_counter()
                reply = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json={
                    "model": "localrag", "max_tokens": 16, "messages": [
                        {"role": "user", "content": "What is the incubation period of "
                                                    "MERS-CoV?"}]}, timeout=600)
                answer_s = time.perf_counter() - asked
                rss_after, peak = rss_mb(server.pid)
                out[arm] = {"start_s": round(start_s, 1), "ready": ready,
                            "rss_ready_mb": round(rss_ready), "rss_after_question_mb":
                            round(rss_after), "peak_rss_mb": round(peak),
                            "question_s": round(answer_s, 1), "status": reply.status_code,
                            **browser}
            finally:
                server.terminate()
                server.wait(60)
            print(f"serve {arm}: {out[arm]}", file=sys.stderr, flush=True)
    return out


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]


def browser_times(url: str, with_documents: bool) -> dict[str, Any]:
    """In Chromium: the page until the question box shows; the Library tab until its table
    shows rows; a search by file name until only matching rows are left (ms)."""
    from playwright.sync_api import sync_playwright

    out: dict[str, Any] = {}
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = chromium.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            started = time.perf_counter()
            page.goto(url)
            page.wait_for_selector("#lr-question textarea", timeout=120_000)
            out["browser_page_ms"] = round((time.perf_counter() - started) * 1000)
            if not with_documents:
                return out
            started = time.perf_counter()
            page.get_by_role("tab", name="Library").click()
            page.wait_for_function("() => { const t = document.querySelector('#lr-documents');"
                                   " return !!t && t.innerText.includes('.pdf'); }",
                                   timeout=120_000)
            out["browser_library_tab_ms"] = round((time.perf_counter() - started) * 1000)
            names = [w for w in page.locator("#lr-documents").inner_text().split("\n")
                     if w.endswith(".pdf")]
            other = next(n for n in names if n != "covid_1560.pdf")
            started = time.perf_counter()
            page.locator("#lr-library-search textarea, #lr-library-search input").first.fill(
                "covid_1560")
            page.wait_for_function(
                "(other) => { const t = document.querySelector('#lr-documents').innerText;"
                " return t.includes('covid_1560.pdf') && !t.includes(other); }", arg=other,
                timeout=120_000)
            out["browser_search_ms"] = round((time.perf_counter() - started) * 1000)
            out["browser_count_line"] = page.locator("#lr-library-count").inner_text()
        finally:
            chromium.close()
    return out


def _wait_ready(server: subprocess.Popen, port: int, log: Path) -> bool:
    import httpx

    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"localrag serve exited: {log.read_text()[-600:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return False


def stage_server(library: Path, embedder: Any, n: int) -> dict:
    """Dense search (40 nearest, as the retriever asks) embedded vs `chroma run` over the same
    index, alternating per question; then the whole hybrid search through the server."""
    import chromadb

    from app.components import open_retriever
    from ingest.settings import Settings
    from ingest.store import COLLECTION

    asked = questions(n)
    vectors = embedder.embed(asked)
    port = free_port()
    chroma = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
    with tempfile.TemporaryDirectory(prefix="bench-scale-chroma-") as tmp:
        log = Path(tmp) / "chroma.log"
        started = time.perf_counter()
        server = subprocess.Popen([chroma, "run", "--path", str(library / "index"), "--host",
                                   "127.0.0.1", "--port", str(port)], stdout=log.open("w"),
                                  stderr=subprocess.STDOUT)
        try:
            remote = _wait_chroma(port, server, log)
            up_s = time.perf_counter() - started
            local_collection = chromadb.PersistentClient(str(library / "index")).get_collection(
                COLLECTION)
            remote_collection = remote.get_collection(COLLECTION)
            first = time.perf_counter()
            remote_collection.query(query_embeddings=[vectors[0].tolist()], n_results=40)
            first_query_s = time.perf_counter() - first
            local_collection.query(query_embeddings=[vectors[0].tolist()], n_results=40)
            local_ms, remote_ms = [], []
            for i, vector in enumerate(vectors):
                order = ((local_collection, local_ms), (remote_collection, remote_ms))
                for collection, times in (order if i % 2 else order[::-1]):
                    t = time.perf_counter()
                    collection.query(query_embeddings=[vector.tolist()], n_results=40,
                                     include=["documents", "metadatas", "distances"])
                    times.append((time.perf_counter() - t) * 1000)
            retriever = open_retriever(Settings(data_dir=library,
                                                chroma_url=f"http://127.0.0.1:{port}"), embedder)
            for q in asked[:5]:
                retriever.search(q, 4)
            hybrid, without_embedding = [], []
            for q in asked:
                t = time.perf_counter()
                retriever.search(q, 4)
                total = (time.perf_counter() - t) * 1000
                hybrid.append(total)
                without_embedding.append(total - retriever.last_timings.embed_ms)
            server_rss, server_peak = rss_mb(server.pid)
        finally:
            server.terminate()
            server.wait(60)
    return {"server_ready_s": round(up_s, 1), "first_query_s": round(first_query_s, 2),
            "dense_embedded_ms": stats(local_ms), "dense_server_ms": stats(remote_ms),
            "median_ratio_server_over_embedded": round(statistics.median(
                r / e for r, e in zip(remote_ms, local_ms, strict=True)), 2),
            "hybrid_through_server_ms": stats(hybrid),
            "hybrid_through_server_without_query_embedding_ms": stats(without_embedding),
            "server_rss_mb": round(server_rss), "server_peak_rss_mb": round(server_peak)}


def _wait_chroma(port: int, server: subprocess.Popen, log: Path) -> Any:
    import chromadb

    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"chroma run exited: {log.read_text()[-600:]}")
        try:
            client = chromadb.HttpClient(host="127.0.0.1", port=port)
            client.heartbeat()
            return client
        except Exception:
            time.sleep(0.5)
    raise TimeoutError("chroma run did not answer in 600 s")


def measure_all(args: argparse.Namespace) -> None:
    from app.llm.catalog import find_model
    from ingest.embed import Embedder
    from ingest.registry import Registry

    library, small, files = args.work / "library", args.work / "small", args.work / "files"
    registry = Registry(library / "registry.sqlite3")
    documents, chunks = len(registry.documents()), registry.indexed_chunk_total()
    registry.close()
    embedder = Embedder("all-MiniLM-L6-v2")
    _ = embedder.model
    report: dict[str, Any] = {}
    if args.out.exists():
        report = json.loads(args.out.read_text())
    report.update({"documents": documents, "chunks": chunks})
    print(f"{documents:,} documents, {chunks:,} chunks; load {load()}", file=sys.stderr)
    stages = args.stages.split(",")
    runs: dict[str, Callable[[], Any]] = {
        "retrieval": lambda: stage_retrieval(library, small, embedder, args.queries),
        "disk": lambda: stage_disk(library, chunks),
        "docs": lambda: stage_docs(library),
        "library": lambda: stage_library(library, args.repeat),
        "watch": lambda: stage_watch(library, files),
        "reingest": lambda: stage_reingest(library, files),
        "delete": lambda: stage_delete(library, files),
        "ingest": lambda: stage_ingest(library, args.papers),
        "ingest-server": lambda: stage_ingest(library, args.papers, server=True),
        "serve": lambda: stage_serve(library, str(find_model(args.model).path(
            REPO / "data" / "models"))),
        "server": lambda: stage_server(library, embedder, args.queries // 2),
    }
    for stage in stages:
        started = time.perf_counter()
        result = runs[stage]()
        report[stage] = {**result, "load": load(),
                         "stage_seconds": round(time.perf_counter() - started, 1)}
        print(f"{stage}: {json.dumps(report[stage])}", file=sys.stderr, flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    built = sub.add_parser("build", help="make the large library (and its 100k copy)")
    built.add_argument("--source", type=Path, required=True, help="data dir of a covidqa index")
    built.add_argument("--work", type=Path, required=True)
    built.add_argument("--chunks", type=int, default=1_000_000)
    built.add_argument("--documents", type=int, default=10_000)
    built.add_argument("--small", type=int, default=100_000, help="chunks of the small copy")
    measured = sub.add_parser("measure", help="time the stages on a built library")
    measured.add_argument("--work", type=Path, required=True)
    measured.add_argument("--stages", default=",".join(STAGES))
    measured.add_argument("--queries", type=int, default=200)
    measured.add_argument("--repeat", type=int, default=20)
    measured.add_argument("--papers", type=int, default=10)
    measured.add_argument("--model", default="qwen2.5-1.5b",
                          help="GGUF for the serve stage (catalog name; default: the app's default)")
    measured.add_argument("--out", type=Path, default=REPO / "bench-results" / "scale.json")
    args = parser.parse_args()
    build(args) if args.command == "build" else measure_all(args)


if __name__ == "__main__":
    main()
