"""Index consistency checks shared by the tests."""

from __future__ import annotations

from pathlib import Path


def check_index(data_dir: Path, model: str = "all-MiniLM-L6-v2", chroma_url: str = ""
                ) -> dict[str, int]:
    """Registry and vector store agree: every indexed document's chunks, once, nothing else."""
    from ingest.embed import Embedder
    from ingest.registry import FAILED, INDEXED, Registry
    from ingest.store import VectorStore, open_client

    registry = Registry(data_dir / "registry.sqlite3")
    assert {d.status for d in registry.documents()} <= {INDEXED, FAILED}  # nothing half-done
    expected = {d.doc_id: d.chunks for d in registry.documents(INDEXED)}
    store = VectorStore(open_client(data_dir / "index", chroma_url), Embedder(model))
    ids = store.collection.get(include=[])["ids"]
    assert len(ids) == len(set(ids))
    assert store.doc_chunk_counts() == expected
    assert sorted(registry.lexical_chunk_ids()) == sorted(ids)  # keyword and vector index agree
    check_document_terms(registry)
    registry.close()
    return expected


def check_document_terms(registry) -> None:
    """The document-level keyword index holds one row per document with chunks, nothing else,
    and its full-text structures are intact."""
    db = registry._db
    with_chunks = {r[0] for r in db.execute("SELECT DISTINCT doc_id FROM chunks")}
    assert {r[0] for r in db.execute("SELECT doc_id FROM doc_terms")} == with_chunks
    assert db.execute("SELECT count(*) FROM doc_terms_fts").fetchone()[0] == len(with_chunks)
    for table in ("chunks_fts", "doc_terms_fts"):
        db.execute(f"INSERT INTO {table}({table}) VALUES ('integrity-check')")
    check_term_counts(db)


def term_rows(db) -> dict[tuple[str, str, str], int]:
    """The term counts as kept (without the state number, which every change draws anew)."""
    return {r[:3]: r[3] for r in db.execute(
        "SELECT tbl, col, term, rows FROM term_rows WHERE col != '#state'")}


def recounted_term_rows(db) -> dict[tuple[str, str, str], int]:
    """The term counts as counting the indexes again makes them (nothing is changed)."""
    from ingest import term_counts

    db.execute("SAVEPOINT recount")
    term_counts.rebuild(db)
    counted = term_rows(db)
    db.execute("ROLLBACK TO recount")
    db.execute("RELEASE recount")
    return counted


def check_term_counts(db) -> None:
    """Where the term counts are kept, they are what counting the indexes again gives."""
    from ingest import term_counts

    if term_counts.complete(db):
        assert term_rows(db) == recounted_term_rows(db), "term counts differ from the indexes"
