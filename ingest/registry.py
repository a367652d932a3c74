"""What is indexed: documents keyed by content (sha256) and the paths that hold them.

SQLite in WAL mode with synchronous=FULL, so a committed state survives a crash or power loss.
A document is written as ``indexing`` before any of its vectors and flipped to ``indexed`` (with its
paths) in one transaction after the last one, so a killed process never leaves a half-indexed
document that counts as done; ``pending_repairs`` finds what the next writer must clean up.

Over 400 lines because every statement on the file lives here (documents, paths, their pages
for the Library, keyword rows, filing facts): a second module would need this one's connection and schema.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ingest import filing_index, lexical, term_counts
from ingest.filings import AskedPeriod, DocumentFacts
from ingest.lexical import LexicalHit, LexicalRow

INDEXING, INDEXED, FAILED, REMOVING = "indexing", "indexed", "failed", "removing"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY,
    title TEXT NOT NULL DEFAULT '',
    size INTEGER NOT NULL,
    pages INTEGER NOT NULL DEFAULT 0,
    chunks INTEGER NOT NULL DEFAULT 0,
    empty_pages INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    error TEXT,
    problems TEXT NOT NULL DEFAULT '[]',
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS paths (
    path TEXT PRIMARY KEY,
    doc_id TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    added_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS paths_doc ON paths(doc_id);
-- The Library tab's page, newest first, walks this instead of sorting every row of a status.
CREATE INDEX IF NOT EXISTS documents_newest ON documents(status, updated_at, doc_id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Document:
    """A registry row, with the paths that currently hold its content."""

    doc_id: str
    title: str
    size: int
    pages: int
    chunks: int
    empty_pages: int
    status: str
    error: str | None
    problems: tuple[str, ...]
    updated_at: float
    paths: tuple[str, ...]

    @property
    def name(self) -> str:
        # String work, not Path: the app names every document of a 10,000-document library.
        return os.path.basename(self.paths[0]) if self.paths else self.title


@dataclass(frozen=True)
class DocumentPage:
    """One page of documents, how many documents match the search, which page it is."""

    documents: list[Document]
    matching: int
    number: int  # 0-based
    pages: int


def file_name(path: str) -> str:
    """A path's last part, ``/`` or ``\\`` separated: the name a search by file name looks at."""
    return path.replace("\\", "/").rsplit("/", 1)[-1]


def search_needle(query: str) -> str:
    """What a search for ``query`` looks for: trimmed and case-folded (empty: everything)."""
    return query.strip().casefold()


def page_bounds(matching: int, page: int, per_page: int) -> tuple[int, int]:
    """(page to show, pages): past the end gives the last page, negative the first."""
    pages = max(1, -(-matching // per_page))
    return min(max(page, 0), pages - 1), pages


# Case-insensitive substring tests for SQL, in Python: SQLite's lower() and LIKE fold ASCII only
# (and an ICU build is not a given), while the Library's search folds any letter as str.casefold
# does ('ÄRZTE' finds 'ärzte', 'strasse' finds 'Straße'). No Unicode normalisation: a decomposed
# 'A' + combining diaeresis does not match a composed 'Ä', as in the search done in Python.
def _folded_contains(text: str | None, needle: str) -> bool:
    return needle in (text or "").casefold()


def _file_name_contains(path: str | None, needle: str) -> bool:
    return needle in file_name(path or "").casefold()


# Newest first; doc_id breaks ties of updated_at so a page is the same on every read and is
# exactly ``reversed(documents(status))`` (which orders by updated_at, doc_id).
_NEWEST_FIRST = "ORDER BY d.updated_at DESC, d.doc_id DESC"


@dataclass(frozen=True)
class PathEntry:
    path: str
    doc_id: str
    size: int
    mtime_ns: int


class Registry:
    """Single-writer document registry; readers may open the same file concurrently."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.executescript(_SCHEMA)
        self._db.executescript(lexical.SCHEMA)
        self._db.executescript(filing_index.SCHEMA)
        self._db.create_function("folded_contains", 2, _folded_contains, deterministic=True)
        self._db.create_function("file_name_contains", 2, _file_name_contains,
                                 deterministic=True)

    def close(self) -> None:
        self._db.close()

    def reader(self) -> Registry:
        """Another connection to the same file, for reads beside this one's."""
        return Registry(self.path)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- reads ---------------------------------------------------------------------------------
    def _paths_of(self, doc_id: str) -> tuple[str, ...]:
        rows = self._db.execute("SELECT path FROM paths WHERE doc_id=? ORDER BY added_at, path",
                                (doc_id,))
        return tuple(r["path"] for r in rows)

    def _document(self, row: sqlite3.Row, paths: tuple[str, ...] | None = None) -> Document:
        return Document(
            doc_id=row["doc_id"],
            title=row["title"],
            size=row["size"],
            pages=row["pages"],
            chunks=row["chunks"],
            empty_pages=row["empty_pages"],
            status=row["status"],
            error=row["error"],
            problems=() if row["problems"] == "[]" else tuple(json.loads(row["problems"])),
            updated_at=row["updated_at"],
            paths=self._paths_of(row["doc_id"]) if paths is None else paths,
        )

    def document(self, doc_id: str) -> Document | None:
        row = self._db.execute("SELECT * FROM documents WHERE doc_id=?", (doc_id,)).fetchone()
        return self._document(row) if row else None

    def documents(self, status: str | None = None) -> list[Document]:
        where, args = ("", ()) if status is None else (" WHERE d.status=?", (status,))
        rows = self._db.execute(f"SELECT * FROM documents d{where} ORDER BY updated_at, doc_id",
                                args).fetchall()
        # Every path in one query, not one query per document: half the time at the Library tab's
        # 10,000 documents.
        paths: dict[str, list[str]] = {}
        for r in self._db.execute(f"SELECT p.doc_id, p.path FROM paths p JOIN documents d ON "
                                  f"d.doc_id = p.doc_id{where} ORDER BY p.added_at, p.path", args):
            paths.setdefault(r["doc_id"], []).append(r["path"])
        return [self._document(row, tuple(paths.get(row["doc_id"], ()))) for row in rows]

    def documents_page(self, status: str, query: str, page: int, per_page: int) -> DocumentPage:
        """Page ``page`` (0-based, clamped) of the documents with ``status``, newest first, that
        match ``query``: a case-insensitive substring of the title or of any path's file name
        (not its folders). Only that page's rows and paths are read: milliseconds at 10,000.
        Count and page are two statements, so a write between them can put one view's count off
        by that write; the next view, which every write triggers, agrees again."""
        where, args = self._matching(status, query)
        matching = self._db.execute(f"SELECT COUNT(*) FROM documents d WHERE {where}",
                                    args).fetchone()[0]
        number, pages = page_bounds(matching, page, per_page)
        rows = self._db.execute(f"SELECT d.* FROM documents d WHERE {where} {_NEWEST_FIRST} "
                                f"LIMIT ? OFFSET ?", (*args, per_page, number * per_page)
                                ).fetchall()
        return DocumentPage(self._with_paths(rows), matching, number, pages)

    @staticmethod
    def _matching(status: str, query: str) -> tuple[str, tuple[str, ...]]:
        """The WHERE clause (over ``documents d``) and its arguments for ``documents_page``."""
        needle = search_needle(query)
        if not needle:
            return "d.status = ?", (status,)
        return ("d.status = ? AND (folded_contains(d.title, ?) OR EXISTS (SELECT 1 FROM paths p "
                "WHERE p.doc_id = d.doc_id AND file_name_contains(p.path, ?)))",
                (status, needle, needle))

    def _with_paths(self, rows: list[sqlite3.Row]) -> list[Document]:
        """Documents for ``rows``, their paths read in one query."""
        ids = json.dumps([r["doc_id"] for r in rows])
        paths: dict[str, list[str]] = {}
        for r in self._db.execute("SELECT doc_id, path FROM paths WHERE doc_id IN (SELECT value "
                                  "FROM json_each(?)) ORDER BY added_at, path", (ids,)):
            paths.setdefault(r["doc_id"], []).append(r["path"])
        return [self._document(row, tuple(paths.get(row["doc_id"], ()))) for row in rows]

    def status_counts(self) -> dict[str, int]:
        """How many documents have each status (``indexed``, ``failed``, ...)."""
        rows = self._db.execute("SELECT status, COUNT(*) AS n FROM documents GROUP BY status")
        return {r["status"]: int(r["n"]) for r in rows}

    def path_entry(self, path: str) -> PathEntry | None:
        row = self._db.execute("SELECT * FROM paths WHERE path=?", (path,)).fetchone()
        if row is None:
            return None
        return PathEntry(row["path"], row["doc_id"], row["size"], row["mtime_ns"])

    def path_entries(self) -> list[PathEntry]:
        rows = self._db.execute("SELECT path, doc_id, size, mtime_ns FROM paths ORDER BY path")
        return [PathEntry(r["path"], r["doc_id"], r["size"], r["mtime_ns"]) for r in rows]

    def find(self, ref: str) -> list[Document]:
        """Documents matching a path, a file name, or a doc id (or a unique prefix of one)."""
        rows = self._db.execute(
            "SELECT DISTINCT d.* FROM documents d LEFT JOIN paths p ON p.doc_id = d.doc_id "
            "WHERE p.path = ? OR d.doc_id = ? OR (length(?) >= 6 AND d.doc_id LIKE ? || '%')",
            (ref, ref, ref, ref),
        ).fetchall()
        if not rows:
            name_rows = self._db.execute(
                "SELECT path, doc_id FROM paths ORDER BY added_at"
            ).fetchall()
            ids = {r["doc_id"] for r in name_rows if Path(r["path"]).name == ref}
            rows = [
                self._db.execute("SELECT * FROM documents WHERE doc_id=?", (i,)).fetchone()
                for i in sorted(ids)
            ]
        return [self._document(row) for row in rows]

    def indexed_chunk_total(self) -> int:
        row = self._db.execute(
            "SELECT COALESCE(SUM(chunks), 0) AS n FROM documents WHERE status=?", (INDEXED,)
        ).fetchone()
        return int(row["n"])

    def pending_repairs(self) -> list[Document]:
        """Documents a crash left half-done, and indexed documents no path holds any more."""
        rows = self._db.execute(
            "SELECT d.* FROM documents d WHERE d.status IN (?, ?) OR (d.status IN (?, ?) AND "
            "NOT EXISTS (SELECT 1 FROM paths p WHERE p.doc_id = d.doc_id))",
            (INDEXING, REMOVING, INDEXED, FAILED),
        ).fetchall()
        return [self._document(row) for row in rows]

    # -- writes --------------------------------------------------------------------------------
    def begin_document(self, doc_id: str, title: str, size: int, pages: int) -> None:
        """Record that vectors for ``doc_id`` are about to be written."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO documents(doc_id, title, size, pages, status, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(doc_id) DO UPDATE SET status=excluded.status,"
                " title=excluded.title, pages=excluded.pages, updated_at=excluded.updated_at",
                (doc_id, title, size, pages, INDEXING, time.time()),
            )

    def finish_document(
        self,
        doc_id: str,
        *,
        status: str,
        chunks: int,
        pages: int,
        empty_pages: int,
        problems: list[str],
        error: str | None,
        path: PathEntry,
        title: str = "",
        lexical_rows: Iterable[LexicalRow] = (),
        facts: DocumentFacts | None = None,
    ) -> None:
        """Mark a document done (indexed or failed), store its lexical rows and filing facts and
        point ``path`` at it, in one transaction."""
        now = time.time()
        with self.transaction() as db:
            lexical.delete_document(db, doc_id)
            lexical.insert(db, lexical_rows)
            filing_index.insert(db, doc_id, facts or DocumentFacts())
            db.execute(
                "INSERT INTO documents(doc_id, title, size, pages, chunks, empty_pages, status,"
                " error, problems, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(doc_id) DO UPDATE SET title=excluded.title, pages=excluded.pages,"
                " chunks=excluded.chunks, empty_pages=excluded.empty_pages, status=excluded.status,"
                " error=excluded.error, problems=excluded.problems, updated_at=excluded.updated_at",
                (doc_id, title, path.size, pages, chunks, empty_pages, status, error,
                 json.dumps(problems), now),
            )
            self._put_path(db, path, now)

    def attach_path(self, path: PathEntry) -> None:
        with self.transaction() as db:
            self._put_path(db, path, time.time())

    @staticmethod
    def _put_path(db: sqlite3.Connection, path: PathEntry, now: float) -> None:
        db.execute(
            "INSERT INTO paths(path, doc_id, size, mtime_ns, added_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(path) DO UPDATE SET doc_id=excluded.doc_id, size=excluded.size,"
            " mtime_ns=excluded.mtime_ns",
            (path.path, path.doc_id, path.size, path.mtime_ns, now),
        )

    def detach_path(self, path: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM paths WHERE path=?", (path,))

    def mark_removing(self, doc_id: str) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE documents SET status=?, updated_at=? WHERE doc_id=?",
                (REMOVING, time.time(), doc_id),
            )
            db.execute("DELETE FROM paths WHERE doc_id=?", (doc_id,))
            lexical.delete_document(db, doc_id)
            filing_index.delete_document(db, doc_id)

    def all_paths(self) -> list[str]:
        return [r["path"] for r in self._db.execute("SELECT path FROM paths ORDER BY added_at")]

    def clear(self) -> None:
        """Forget every document (before a rebuild)."""
        with self.transaction() as db:
            db.execute("DELETE FROM paths")
            db.execute("DELETE FROM documents")
            lexical.delete_all(db)
            filing_index.delete_all(db)

    def delete_document(self, doc_id: str) -> None:
        with self.transaction() as db:
            lexical.delete_document(db, doc_id)
            filing_index.delete_document(db, doc_id)
            db.execute("DELETE FROM documents WHERE doc_id=?", (doc_id,))

    def term_counts_current(self) -> bool:
        """Whether the keyword indexes' term counts are complete and hold as many chunks as the
        indexed documents do (an older localrag writing this index would not keep them)."""
        return term_counts.complete(self._db) and \
            term_counts.total(self._db, "chunks_fts") == self.indexed_chunk_total()

    def rebuild_term_counts(self) -> None:
        with self.transaction() as db:
            term_counts.rebuild(db)

    def optimize_lexical(self) -> None:
        with self.transaction() as db:
            lexical.optimize(db)

    def replace_lexical(self, doc_id: str, rows: Iterable[LexicalRow],
                        facts: DocumentFacts | None = None) -> None:
        with self.transaction() as db:
            lexical.delete_document(db, doc_id)
            lexical.insert(db, rows)
            filing_index.insert(db, doc_id, facts or DocumentFacts())

    # -- lexical reads -------------------------------------------------------------------------
    # ``doc_ids``: only chunks of those documents (None: the whole index).
    def lexical_search(self, text: str, limit: int,
                       doc_ids: Collection[str] | None = None) -> list[LexicalHit]:
        return lexical.search(self._db, text, limit, doc_ids)

    def unknown_terms(self, text: str, doc_ids: Collection[str] | None = None) -> list[str]:
        return lexical.unknown_terms(self._db, text, doc_ids)

    def named_documents(self, text: str) -> dict[str, float]:
        return lexical.named_documents(self._db, text)

    def topical_documents(self, text: str, limit: int,
                          doc_ids: Collection[str] | None = None) -> list[str]:
        return lexical.topical_documents(self._db, text, limit, doc_ids)

    def covering(self, doc_ids: Collection[str] | None, period: AskedPeriod) -> set[str]:
        """Those of ``doc_ids`` that report on ``period`` (``filing_index.covering``)."""
        return filing_index.covering(self._db, doc_ids, period)

    def statement_chunks(self, text: str, statements: Collection[str],
                         doc_ids: Collection[str], limit: int) -> list[lexical.StoredChunk]:
        return filing_index.statement_chunks(self._db, text, list(statements), doc_ids, limit)

    def documents_without_terms(self) -> set[str]:
        """Indexed documents with text that the document-level keyword index lacks (indexes
        from before it existed); a document without chunks has no row there by design."""
        return {r[0] for r in self._db.execute(
            "SELECT doc_id FROM documents WHERE status=? AND chunks > 0 AND doc_id NOT IN "
            "(SELECT doc_id FROM doc_terms)", (INDEXED,))}

    def meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE "
                         "SET value = excluded.value", (key, value))

    def lexical_counts(self) -> dict[str, int]:
        return lexical.chunk_counts(self._db)

    def document_chunks(self, doc_id: str) -> list[lexical.StoredChunk]:
        return lexical.document_chunks(self._db, doc_id)

    def lexical_chunk_ids(self) -> list[str]:
        return lexical.chunk_ids(self._db)
