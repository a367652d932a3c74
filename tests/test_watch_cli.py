"""`localrag watch` as users run it: a real process owning the index, killed, restarted, and
other terminals handing their `ingest` and `remove` to it."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from indexcheck import check_index
from pdfgen import prose, write_pdf
from test_cli import LOCALRAG, _env, run
from test_watch import expected_chunks, wait_until


def _indexed_paths(data: Path) -> set[str]:
    registry = data / "registry.sqlite3"
    if not registry.exists():
        return set()
    try:
        with sqlite3.connect(f"file:{registry}?mode=ro", uri=True, timeout=1) as db:
            rows = db.execute("SELECT p.path FROM paths p JOIN documents d ON d.doc_id = p.doc_id "
                              "WHERE d.status = 'indexed'").fetchall()
    except sqlite3.OperationalError:
        return set()
    return {r[0] for r in rows}


class Watch:
    def __init__(self, folder: Path, data: Path, **env: str) -> None:
        self.folder, self.data = folder, data
        self.env = _env(LOCALRAG_WATCH_STABLE_S="0.5", **env)
        self.proc: subprocess.Popen | None = None

    def start(self) -> Watch:
        self.proc = subprocess.Popen([*LOCALRAG, "watch", str(self.folder)], env=self.env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        owner = self.data / "owner.json"
        wait_until(lambda: self._owner_pid() == self.proc.pid or self.proc.poll() is not None,
                   "localrag watch to announce itself", 120)
        assert self.proc.poll() is None, self.proc.communicate()
        assert owner.stat().st_mode & 0o077 == 0  # the token is readable by this user only
        return self

    def _owner_pid(self) -> int | None:
        try:
            return json.loads((self.data / "owner.json").read_text())["pid"]
        except (OSError, ValueError, KeyError):
            return None

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str]:
        assert self.proc is not None
        self.proc.send_signal(sig)
        _, err = self.proc.communicate(timeout=120)
        return self.proc.returncode, err


@pytest.fixture
def watches() -> Iterator[list[Watch]]:
    started: list[Watch] = []
    yield started
    for watch in started:
        if watch.proc is not None and watch.proc.poll() is None:
            watch.proc.kill()
            watch.proc.wait()


def test_sigkill_mid_burst_then_restart_indexes_every_file_once(tmp_path, watches):
    folder, data = tmp_path / "inbox", tmp_path / "data"
    folder.mkdir()
    # Many small vector writes per file: the kill lands between them, as in test_cli.
    watch = Watch(folder, data, LOCALRAG_EMBED_BATCH_SIZE="4")
    watches.append(watch.start())
    files = [write_pdf(folder / f"report-{n:02d}.pdf", [prose(f"report {n} part {p}") for p in range(3)])
             for n in range(20)]
    done = wait_until(lambda: len(_indexed_paths(data)) >= 3 and _indexed_paths(data),
                      "the burst to start", 120)
    watch.stop(signal.SIGKILL)
    assert len(done) < len(files) - 2, "the burst finished before the kill"

    restarted = Watch(folder, data)
    watches.append(restarted.start())
    wanted = {str(p) for p in files}
    wait_until(lambda: _indexed_paths(data) == wanted, "every file indexed after the restart", 180)
    code, err = restarted.stop()
    assert code == 0, err
    assert "stopped" in err and not (data / "owner.json").exists()
    counts = check_index(data)  # exactly once each, nothing orphaned, keyword == vector ids
    assert sorted(counts.values()) == sorted(expected_chunks(p) for p in files)


def test_cli_ingest_and_remove_are_handed_to_the_running_watcher(tmp_path, watches):
    folder, data, outside = tmp_path / "inbox", tmp_path / "data", tmp_path / "papers"
    folder.mkdir()
    write_pdf(outside / "alpha.pdf", [prose("alpha")])
    write_pdf(outside / "beta.pdf", [prose("beta"), prose("beta appendix")])
    (outside / "broken.pdf").write_text("not really")
    watch = Watch(folder, data)
    watches.append(watch.start())

    # The watcher holds the writer lock: with no patience for it, only a hand-over can succeed.
    impatient = _env(LOCALRAG_LOCK_TIMEOUT_S="0")
    out = run("ingest", "--no-wait", str(outside), env=impatient)
    assert out.returncode == 1, out.stderr  # broken.pdf failed, as it would locally
    assert "indexed        2" in out.stdout
    assert "broken.pdf: not a PDF" in out.stdout
    assert "Traceback" not in out.stderr

    again = run("ingest", "--json", "papers/alpha.pdf", env=impatient, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["outcome"] == "unchanged"

    removed = run("remove", "beta.pdf", env=impatient, cwd=outside)
    assert removed.returncode == 0 and removed.stdout.startswith("removed beta.pdf"), removed
    missing = run("remove", "nothing.pdf", env=impatient)
    assert missing.returncode == 1
    assert "Error: no indexed document matches 'nothing.pdf'" in missing.stderr
    refused = run("reindex", env=impatient)
    assert refused.returncode == 1 and "owns the index" in refused.stderr

    dropped = write_pdf(folder / "dropped.pdf", [prose("dropped in")])  # the watcher still works
    wait_until(lambda: str(dropped) in _indexed_paths(data), "the dropped file indexed")
    code, err = watch.stop()
    assert code == 0, err
    assert _indexed_paths(data) == {str(outside / "alpha.pdf"), str(dropped)}
    assert len(check_index(data)) == 2

    alone = run("ingest", "--no-wait", str(outside / "beta.pdf"), env=impatient)  # owner gone
    assert alone.returncode == 0 and "indexed        1" in alone.stdout, alone.stderr


def test_a_leftover_owner_file_of_a_dead_process_is_ignored(tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "owner.json").write_text(
        json.dumps({"pid": dead.pid, "port": 9, "token": "stale"}))
    pdf = write_pdf(tmp_path / "a.pdf", [prose("stale owner")])
    out = run("ingest", "--no-wait", str(pdf))
    assert out.returncode == 0 and "indexed        1" in out.stdout, out.stderr
