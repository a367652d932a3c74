"""Watch folder benchmark: latency from a PDF landing to being searchable, and idle CPU.

1. Latency (in process, the watcher and Library exactly as `localrag watch` wires them, default
   stability window): a 10-page PDF is copied into the watched folder; measured are the wait
   until the watcher hands it over (the stability window plus event handling), the ingest, and
   the rest until a search finds its first chunk. Target: stability wait + ingest + under 1 s.
   The model and the parse worker are warmed up with one file first, as in a running watcher.
2. Idle CPU of a real `localrag watch` process over an already indexed folder: its CPU time
   (user + system, from /proc) over wall time, once start-up has settled. Target: near zero.

Usage (from the repository root; about 2 minutes):
    .venv/bin/python tests/bench/bench_watch.py --out bench-results/watch.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
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


def ten_page_pdf(path: Path, token: str) -> Path:
    from pdfgen import prose, write_pdf

    pages = [f"{token} " + prose(f"{token} section {n}", 14) for n in range(10)]
    return write_pdf(path, pages, title=f"Report {token}")


def bench_latency(work: Path, stable_s: float, runs: int) -> dict:
    from app.owner.library import Library
    from ingest.registry import Registry
    from ingest.settings import Settings
    from ingest.watch import FolderWatcher

    settings = Settings(data_dir=work / "data")
    inbox = work / "inbox"
    staging = work / "staging"
    inbox.mkdir()
    staging.mkdir()
    library = Library(settings)
    marks: dict[str, float] = {}

    def apply(paths, progress):  # start_watcher's callback, with timestamps around it
        marks["apply_start"] = time.perf_counter()
        results = library.ingest(paths, progress=progress, source="watch")
        marks["apply_end"] = time.perf_counter()
        return results

    registry = Registry(settings.registry_path)
    watcher = FolderWatcher([inbox], registry, apply,
                            lambda paths: library.forget_paths(paths, source="watch"),
                            report=library.note, stable_s=stable_s)
    watcher.start()
    rows = []
    try:
        for run in range(runs + 1):  # run 0 warms up the model and the parse worker
            token = f"zqx{run}wv"
            source = ten_page_pdf(staging / f"report-{run}.pdf", token)
            target = inbox / source.name
            marks.clear()
            landed = time.perf_counter()
            shutil.copyfile(source, target)
            landed = (landed + time.perf_counter()) / 2
            deadline = time.monotonic() + 300
            while "apply_end" not in marks:
                assert time.monotonic() < deadline, "the file was never handed over"
                time.sleep(0.005)
            hits = library.search(f"{token} section", 1)
            searchable = time.perf_counter()
            assert hits and hits[0].path == str(target), hits
            result = next(d for d in library.documents() if str(target) in d.paths)
            row = {
                "run": run, "pages": result.pages, "chunks": result.chunks,
                "total_s": searchable - landed,
                "wait_s": marks["apply_start"] - landed,
                "ingest_s": marks["apply_end"] - marks["apply_start"],
                "search_s": searchable - marks["apply_end"],
            }
            row["overhead_s"] = row["total_s"] - stable_s - row["ingest_s"]
            print(json.dumps(row), flush=True)
            if run:
                rows.append(row)
    finally:
        watcher.stop()
        registry.close()
        library.close()

    def median(key: str) -> float:
        return statistics.median(r[key] for r in rows)

    return {"stable_s": stable_s, "runs": rows,
            "median": {k: median(k) for k in ("total_s", "wait_s", "ingest_s", "search_s",
                                              "overhead_s")},
            "max_overhead_s": max(r["overhead_s"] for r in rows)}


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def bench_idle(work: Path, idle_s: float) -> dict:
    """`localrag watch` over the folder indexed above: CPU use while nothing happens."""
    env = dict(os.environ, PYTHONPATH=str(REPO), LOCALRAG_DATA_DIR=str(work / "data"))
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "watch", str(work / "inbox")],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        owner = work / "data" / "owner.json"
        deadline = time.monotonic() + 180
        while not (owner.exists() and json.loads(owner.read_text())["pid"] == proc.pid):
            assert proc.poll() is None and time.monotonic() < deadline, "watch did not start"
            time.sleep(0.1)
        # Start-up (imports, reconciliation, model load) is over when CPU time stops moving.
        quiet, last = 0, _cpu_seconds(proc.pid)
        while quiet < 3:
            time.sleep(1)
            now = _cpu_seconds(proc.pid)
            quiet = quiet + 1 if now - last < 0.02 else 0
            last = now
        start_cpu, start_wall = _cpu_seconds(proc.pid), time.perf_counter()
        time.sleep(idle_s)
        cpu = _cpu_seconds(proc.pid) - start_cpu
        wall = time.perf_counter() - start_wall
        rss = _rss_mb(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    return {"wall_s": wall, "cpu_s": cpu, "cpu_fraction": cpu / wall, "rss_mb": rss,
            "exit_code": proc.returncode, "stopped_cleanly": "stopped" in err}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stable", type=float, default=2.0, help="stability window (default 2.0)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--idle-s", type=float, default=45.0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-watch-") as tmp:
        work = Path(tmp)
        latency = bench_latency(work, args.stable, args.runs)
        idle = bench_idle(work, args.idle_s)
    report = {"latency": latency, "idle": idle}
    m = latency["median"]
    print(f"latency (median of {args.runs}): {m['total_s']:.2f} s = wait {m['wait_s']:.2f} s "
          f"(stability window {args.stable:g} s) + ingest {m['ingest_s']:.2f} s + search "
          f"{m['search_s']:.3f} s; beyond window + ingest: {m['overhead_s']:.2f} s "
          f"(max {latency['max_overhead_s']:.2f} s)")
    print(f"idle: {idle['cpu_s']:.3f} s CPU in {idle['wall_s']:.0f} s "
          f"({100 * idle['cpu_fraction']:.3f} %), RSS {idle['rss_mb']:.0f} MB")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
