"""The same store code against a real Chroma server (`chroma run`) instead of the embedded one."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import free_port
from indexcheck import check_index
from pdfgen import prose, write_pdf
from test_cli import _env, run

CHROMA = Path(sys.executable).parent / "chroma"


@pytest.fixture
def chroma_url(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen([str(CHROMA), "run", "--path", str(tmp_path / "chroma-server"),
                             "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1):
                    break
            except OSError:
                assert proc.poll() is None, "chroma run exited"
                assert time.monotonic() < deadline, "chroma run did not start"
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_ingest_search_remove_against_a_chroma_server(tmp_path, chroma_url, embedder):
    from app.components import open_ingestor, open_retriever
    from ingest.settings import Settings
    from ingest.store import VectorStore, open_client

    settings = Settings(data_dir=tmp_path / "data", chroma_url=chroma_url)
    docs = tmp_path / "docs"
    write_pdf(docs / "tides.pdf", [prose("tidal energy"), prose("harbour walls")])
    write_pdf(docs / "bees.pdf", [prose("bee keeping")])
    write_pdf(docs / "roads.pdf", [prose("road maintenance")])
    ingestor = open_ingestor(settings, embedder)
    try:
        assert [r.outcome for r in ingestor.ingest([docs])] == ["indexed"] * 3
        assert ingestor.store.count() == ingestor.registry.indexed_chunk_total()
        assert not (settings.index_dir / "chroma.sqlite3").exists()  # nothing embedded locally

        # Another client (as another process would) sees the vectors without being re-created.
        other = VectorStore(open_client(settings.index_dir, chroma_url), embedder)
        assert other.count() == ingestor.store.count()
        hits = open_retriever(settings, embedder).search("tidal energy harbour", 4)
        assert hits[0].file == "tides.pdf"

        embedded = embedder.texts
        assert [r.outcome for r in ingestor.ingest([docs])] == ["unchanged"] * 3
        assert embedder.texts == embedded
        removed = ingestor.remove("bees.pdf")
        assert ingestor.repair().empty  # registry and server agree: nothing to repair
        assert other.count() == ingestor.registry.indexed_chunk_total()
        assert removed.doc_id not in other.doc_chunk_counts()
    finally:
        ingestor.close()
    assert len(check_index(settings.data_dir, chroma_url=chroma_url)) == 2


def test_the_cli_uses_the_server_named_in_the_environment(tmp_path, chroma_url):
    from ingest.embed import Embedder
    from ingest.store import VectorStore, open_client

    pdf = write_pdf(tmp_path / "notice.pdf", [prose("termination notice")])
    out = run("ingest", str(pdf), env=_env(LOCALRAG_CHROMA_URL=chroma_url))
    assert out.returncode == 0 and "indexed        1" in out.stdout, out.stderr
    served = VectorStore(open_client(tmp_path, chroma_url), Embedder("all-MiniLM-L6-v2"))
    assert served.count() == check_index(tmp_path / "data", chroma_url=chroma_url).popitem()[1]


def test_an_unreachable_server_is_a_one_line_error(tmp_path):
    out = run("search", "anything", env=_env(LOCALRAG_CHROMA_URL=f"http://127.0.0.1:{free_port()}"))
    assert out.returncode == 1
    assert "cannot reach the Chroma server at http://127.0.0.1:" in out.stderr
    assert "Traceback" not in out.stderr
