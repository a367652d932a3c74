"""Composition root: builds the components from ``Settings``. Only entry points call this."""

from __future__ import annotations

from ingest.embed import Embedder
from ingest.pipeline import Ingestor
from ingest.registry import Registry
from ingest.settings import Settings
from ingest.store import VectorStore, open_client


def open_registry(settings: Settings) -> Registry:
    return Registry(settings.registry_path)


def open_ingestor(settings: Settings) -> Ingestor:
    """Registry + embedder + Chroma store under ``settings.data_dir`` (hold a WriterLock)."""
    embedder = Embedder(settings.embedding_model, batch_size=settings.embed_batch_size)
    store = VectorStore(open_client(settings.index_dir), embedder)
    return Ingestor(
        open_registry(settings),
        store,
        embedder,
        chunk_size=settings.chunk_size,
        chunk_overlap=settings.chunk_overlap,
        embed_batch_size=settings.embed_batch_size,
    )
