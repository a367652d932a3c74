"""A large library made from a small real one: the indexed documents of an index copied
through the registry and store code (embedding a million chunks would take hours on 2 cores).
Used by the retrieval and scale benchmarks; tested on a small size
(tests/test_replicated_library.py).
"""

from __future__ import annotations

from pathlib import Path


def build_replicated(source: Path, target: Path, chunks_wanted: int, embedder,
                     documents_wanted: int = 0) -> int:
    """Fill ``target`` with copies of the indexed documents of ``source`` until it holds
    ``chunks_wanted`` chunks (and, when given, ``documents_wanted`` documents); returns the
    chunk count of the store. Each copy gets its own document id, path, registry row, keyword
    rows and vectors (the original's plus Gaussian noise of 0.02, normalised), written through
    the registry and store code ingestion uses."""
    import numpy as np

    from ingest.chunking import document_context, document_opening
    from ingest.lexical import LexicalRow, StoredChunk
    from ingest.models import Chunk
    from ingest.registry import INDEXED, PathEntry, Registry
    from ingest.store import VectorStore, chunk_id, open_client

    src_registry = Registry(source / "registry.sqlite3")
    src_store = VectorStore(open_client(source / "index"), embedder)
    docs = src_registry.documents(INDEXED)
    payload = {}
    for doc in docs:
        got = src_store.collection.get(where={"doc_id": doc.doc_id},
                                       include=["documents", "metadatas", "embeddings"])
        payload[doc.doc_id] = got
    registry = Registry(target / "registry.sqlite3")
    store = VectorStore(open_client(target / "index"), embedder)
    rng = np.random.default_rng(0)
    total, copy = 0, 0
    made = 0
    while total < chunks_wanted or made < documents_wanted:
        for doc in docs:
            if total >= chunks_wanted and made >= documents_wanted:
                break
            got = payload[doc.doc_id]
            new_id = f"{doc.doc_id[:48]}{copy:016x}"
            vectors = np.asarray(got["embeddings"], dtype=np.float32)
            if copy:
                vectors = vectors + rng.normal(0, 0.02, vectors.shape).astype(np.float32)
                vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            metas = [{**m, "doc_id": new_id} for m in got["metadatas"]]
            ids = [chunk_id(new_id, int(m["index"])) for m in metas]
            registry.begin_document(new_id, doc.title, doc.size, doc.pages)
            store.add(ids, vectors, got["documents"], metas)
            chunks = [Chunk(int(m["page"]), int(m["index"]), int(m["start"]), int(m["end"]), t)
                      for t, m in zip(got["documents"], got["metadatas"], strict=True)]
            context = document_context(doc.title, doc.name, document_opening(chunks))
            rows = [LexicalRow(StoredChunk(cid, new_id, int(m["page"]), int(m["index"]),
                                           int(m["start"]), int(m["end"]), text), context)
                    for cid, m, text in zip(ids, metas, got["documents"], strict=True)]
            entry = PathEntry(f"/bench/copy{copy}/{doc.name}", new_id, doc.size, 0)
            registry.finish_document(new_id, status=INDEXED, chunks=len(ids), pages=doc.pages,
                                     empty_pages=0, problems=[], error=None, path=entry,
                                     title=doc.title, lexical_rows=rows)
            total += len(ids)
            made += 1
        copy += 1
    return store.count()
