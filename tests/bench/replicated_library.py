"""A large library made from a small real one: the indexed documents of an index copied
through the registry and store code (embedding a million chunks would take hours on 2 cores).
Used by the retrieval and scale benchmarks; tested on a small size
(tests/test_replicated_library.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path


def build_replicated(source: Path, target: Path, chunks_wanted: int, embedder,
                     documents_wanted: int = 0, files_dir: Path | None = None,
                     report: Callable[[int, int], None] | None = None) -> int:
    """Fill ``target`` with copies of the indexed documents of ``source`` until it holds
    ``chunks_wanted`` chunks (and, when given, ``documents_wanted`` documents); returns the
    chunk count of the store. Each copy gets its own document id, path, registry row, keyword
    rows and vectors (the original's plus Gaussian noise of 0.02, normalised), written through
    the registry and store code ingestion uses.

    A target that already holds copies grows from where it is (the next copies get new ids).
    With ``files_dir`` each copy's path is a real file there (a hard link to the original PDF,
    its size and mtime recorded as ingest records them), so an unchanged re-ingest or the watch
    folder's start-up can run over the whole library. ``report(documents, chunks)`` is called
    after each round of copies."""
    import math
    import os

    import numpy as np

    from ingest.chunking import CONTEXT_RECIPE, document_context, document_opening
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
    # As the Ingestor records it for a new index: the keyword rows below are built with today's
    # document context, and an index without the record gets them all rebuilt at its next open.
    if registry.meta("context_recipe") is None:
        registry.set_meta("context_recipe", CONTEXT_RECIPE)
    store = VectorStore(open_client(target / "index"), embedder)
    already = len(registry.documents())
    copy = math.ceil(already / len(docs)) if already else 0
    rng = np.random.default_rng(copy)
    total, made = store.count(), already
    while total < chunks_wanted or made < documents_wanted:
        for doc in docs:
            if total >= chunks_wanted and made >= documents_wanted:
                break
            got = payload[doc.doc_id]
            # The copy number first: the app shows ids by their first 12 characters.
            new_id = f"{copy:08x}{doc.doc_id[8:]}"
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
            if files_dir is None:
                entry = PathEntry(f"/bench/copy{copy}/{doc.name}", new_id, doc.size, 0)
            else:
                path = files_dir / f"copy{copy}" / doc.name
                path.parent.mkdir(parents=True, exist_ok=True)
                if not path.exists():
                    os.link(doc.paths[0], path)
                st = path.stat()
                entry = PathEntry(str(path), new_id, st.st_size, st.st_mtime_ns)
            registry.finish_document(new_id, status=INDEXED, chunks=len(ids), pages=doc.pages,
                                     empty_pages=0, problems=[], error=None, path=entry,
                                     title=doc.title, lexical_rows=rows)
            total += len(ids)
            made += 1
        copy += 1
        if report is not None:
            report(made, total)
    # The keyword indexes' term counts, as a writer's repair makes them: once at the end (kept
    # copy by copy they would cost about as much again as the copies).
    registry.rebuild_term_counts()
    return store.count()
