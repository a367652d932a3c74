"""Shared fixtures: every test's state lives in its own tmp_path; the real model loads once."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from app.offline import apply_offline_env  # noqa: E402

apply_offline_env()

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_serving(url: str, process, log: Path, headers: dict[str, str] | None = None,
                       seconds: float = 120) -> None:
    """Poll ``url`` until it answers 200; fail with the server's log when it exits or is late."""
    import subprocess
    import time

    import httpx

    assert isinstance(process, subprocess.Popen)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url, timeout=1, headers=headers).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} not ready in {seconds:g} s: {log.read_text()[-2000:]}")


SHARED_EVAL = REPO.parent / "shared" / "eval"


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Run each test in an empty folder with its own data directory and no stray settings."""
    for key in list(os.environ):
        if key.startswith("LOCALRAG_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LOCALRAG_DATA_DIR", str(tmp_path / "data"))
    yield tmp_path


@pytest.fixture(scope="session")
def shared_embedder():
    from ingest.embed import Embedder

    embedder = Embedder("all-MiniLM-L6-v2", batch_size=32)
    _ = embedder.model
    return embedder


class CountingEmbedder:
    """The real embedder, counting how many texts it embeds (to prove work was skipped)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.model_name = inner.model_name
        self.texts = 0

    def embed(self, texts):
        self.texts += len(texts)
        return self.inner.embed(texts)

    def __getattr__(self, name):
        return getattr(self.inner, name)


@pytest.fixture
def embedder(shared_embedder) -> CountingEmbedder:
    return CountingEmbedder(shared_embedder)


def make_ingestor(data_dir: Path, embedder, chunk_size: int = 1000, chunk_overlap: int = 150):
    from ingest.pipeline import Ingestor
    from ingest.registry import Registry
    from ingest.store import VectorStore, open_client

    store = VectorStore(open_client(data_dir / "index"), embedder)
    return Ingestor(Registry(data_dir / "registry.sqlite3"), store, embedder,
                    chunk_size=chunk_size, chunk_overlap=chunk_overlap, embed_batch_size=32)


@pytest.fixture
def ingestor(tmp_path: Path, embedder):
    return make_ingestor(tmp_path / "data", embedder)


def stored(ingestor) -> dict:
    """Everything in the vector store: ids, documents and metadatas."""
    return ingestor.store.collection.get(include=["documents", "metadatas"])


@pytest.fixture(scope="session")
def test_gguf():
    """Path of a catalog model installed in the repository's data/models by `make test`."""
    from app.llm.catalog import find_model

    def path(name: str) -> Path:
        model = find_model(name)
        found = model.path(REPO / "data" / "models")
        assert found.is_file() and found.stat().st_size == model.size, (
            f"{found} is missing: `make test` installs it (localrag models install {name})")
        return found

    return path
