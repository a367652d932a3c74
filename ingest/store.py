"""The vector-store component: a Chroma collection of chunk vectors, one writer at a time."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ingest.embed import UNRECORDED_PRECISION, Embedder
from ingest.errors import IndexMismatch, LocalragError

log = logging.getLogger(__name__)

COLLECTION = "localrag_chunks"
# Chroma 1.5.9 rejects batches above its max_batch_size (5,461 here); stay well below.
WRITE_BATCH = 2000


def chunk_id(doc_id: str, index: int) -> str:
    """Deterministic chunk id: re-writing a document overwrites, never duplicates."""
    return f"{doc_id}:{index}"


def _embedding_function(embedder: Embedder) -> Any:
    from chromadb.api.types import Documents, EmbeddingFunction, Embeddings

    class LocalEmbeddingFunction(EmbeddingFunction[Documents]):
        def __init__(self, inner: Embedder) -> None:
            self.inner = inner

        def __call__(self, input: Documents) -> Embeddings:
            return list(self.inner.embed(list(input)))

        @staticmethod
        def name() -> str:
            return "localrag"

        def get_config(self) -> dict[str, Any]:
            return {"model": self.inner.model_name, "precision": self.inner.precision}

        @staticmethod
        def build_from_config(config: dict[str, Any]) -> LocalEmbeddingFunction:
            return LocalEmbeddingFunction(
                Embedder(config["model"], precision=config.get("precision", "fp32")))

        def default_space(self) -> Any:
            return "cosine"

    return LocalEmbeddingFunction(embedder)


def open_client(path: Path, url: str = "") -> Any:
    """The embedded store under ``path``, or the Chroma server at ``url`` when one is given.

    A server lets several processes share one index: each sees the others' vectors at once,
    which embedded clients in separate processes do not (measured, docs/DEVELOPMENT.md).
    """
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    settings = ChromaSettings(anonymized_telemetry=False)
    if url:
        return _http_client(url, settings)
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=settings)


def _http_client(url: str, settings: Any) -> Any:
    from urllib.parse import urlsplit

    import chromadb

    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise LocalragError(f"invalid chroma_url {url!r}: use http://HOST:PORT")
    ssl = parts.scheme == "https"
    port = parts.port or (443 if ssl else 8000)
    try:
        return chromadb.HttpClient(host=parts.hostname, port=port, ssl=ssl, settings=settings)
    except Exception as err:  # chromadb raises ValueError/ConnectError variants by version
        raise LocalragError(
            f"cannot reach the Chroma server at {url}: start it (chroma run --path DIR --host "
            f"{parts.hostname} --port {port}) or unset LOCALRAG_CHROMA_URL"
        ) from err


def _existing_collection(client: Any, collection: str) -> Any:
    """The collection when it exists (as listed: its metadata, no embedding function), else
    None."""
    return next((c for c in client.list_collections() if getattr(c, "name", c) == collection),
                None)


def drop_collection(client: Any, collection: str = COLLECTION) -> None:
    """Delete the whole collection (a rebuild, for example with another embedding model)."""
    if _existing_collection(client, collection) is not None:
        client.delete_collection(collection)


class VectorStore:
    """Chunk vectors with their text and (doc_id, page, offsets) metadata."""

    def __init__(self, client: Any, embedder: Embedder, collection: str = COLLECTION) -> None:
        self.embedder = embedder
        self._client = client
        existing = _existing_collection(client, collection)
        built_with = (existing.metadata or {}) if existing is not None else None
        if built_with is not None and built_with.get("embedding_model") != embedder.model_name:
            raise IndexMismatch(
                f"the index was built with embedding model {built_with.get('embedding_model')!r} "
                f"but {embedder.model_name!r} is configured: set "
                f"LOCALRAG_EMBEDDING_MODEL={built_with.get('embedding_model')} "
                "or run `localrag reindex` to rebuild it with the new model"
            )
        embedder.settle_precision(
            None if built_with is None
            else built_with.get("embedding_precision", UNRECORDED_PRECISION))
        self._collection = client.get_or_create_collection(
            collection,
            embedding_function=_embedding_function(embedder),
            configuration={"hnsw": {"space": "cosine"}},
            metadata={"embedding_model": embedder.model_name,
                      "embedding_precision": embedder.precision},
        )

    @property
    def collection(self) -> Any:
        return self._collection

    def count(self) -> int:
        return int(self._collection.count())

    def add(
        self,
        ids: Sequence[str],
        embeddings: Any,
        texts: Sequence[str],
        metadatas: Sequence[dict[str, Any]],
    ) -> None:
        for start in range(0, len(ids), WRITE_BATCH):
            end = start + WRITE_BATCH
            self._collection.upsert(
                ids=list(ids[start:end]),
                embeddings=embeddings[start:end],
                documents=list(texts[start:end]),
                metadatas=list(metadatas[start:end]),
            )

    def delete_ids(self, ids: Sequence[str]) -> None:
        for start in range(0, len(ids), WRITE_BATCH):
            self._collection.delete(ids=list(ids[start : start + WRITE_BATCH]))

    def delete_document(self, doc_id: str, chunks: int | None = None) -> None:
        """Delete a document's chunks: by id when the count is known (fast), else by filter."""
        if chunks is not None:
            self.delete_ids([chunk_id(doc_id, i) for i in range(chunks)])
        else:
            self._collection.delete(where={"doc_id": doc_id})

    def doc_chunk_counts(self) -> dict[str, int]:
        """Chunks per doc_id as stored (a full scan: for repair and checks, not hot paths)."""
        counts: dict[str, int] = {}
        offset, page = 0, 5000
        while True:
            got = self._collection.get(include=["metadatas"], limit=page, offset=offset)
            for meta in got["metadatas"] or []:
                doc_id = str((meta or {}).get("doc_id"))
                counts[doc_id] = counts.get(doc_id, 0) + 1
            if len(got["ids"]) < page:
                return counts
            offset += page
