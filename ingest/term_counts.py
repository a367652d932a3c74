"""How many rows of each keyword index hold each word, kept exact beside the indexes.

SQLite FTS5 can only count a word's rows by reading its whole posting list: at a million chunks
"infection" is in 644,000 of them (19 ms), and the keyword search counted every word of a
question to choose what to score. These counts are written in the transaction that adds or
removes the rows (so they are as exact as the indexes themselves) and are read in microseconds.

Words are counted as FTS5 indexes them: a scratch FTS5 table with the same tokenizer turns a
document's rows, or a question's words, into index terms, and ``fts5vocab`` counts them. A
question's word that becomes more than one term (``covid_19``) has no count here; it is counted
in the index as before.

The counts are trusted only while they are marked complete (a row of their own):
an index from before them gets them from one pass over its indexes at the next writer's repair
(26 s at a million chunks, 2 s at 100,000); until then every count is taken from the index.
"""

from __future__ import annotations

import random
import sqlite3
import threading
from collections.abc import Iterable, Sequence

# Which version of the counts the indexes have, kept as a row of their own (none: not yet made).
_COMPLETE, VERSION = "#complete", 1
ANY_COLUMN = "*"
_TOTAL = ""  # the term under which a table's row total is kept (no FTS5 term is empty)
# The column under which a table's state is kept: a random number drawn anew by every change of
# its rows, for caches of what depends on the whole index (``state``).
_STATE = "#state"

SCHEMA = """
CREATE TABLE IF NOT EXISTS term_rows (
    tbl TEXT NOT NULL, col TEXT NOT NULL, term TEXT NOT NULL, rows INTEGER NOT NULL,
    PRIMARY KEY (tbl, col, term)
) WITHOUT ROWID;
"""

_TOKENIZE = "tokenize='porter unicode61 remove_diacritics 2'"  # as the indexes (lexical.SCHEMA)
# The indexes counted: their columns, and the columns counted on their own.
COLUMNS = {"chunks_fts": ("body", "context"), "doc_terms_fts": ("identity", "body")}
PER_COLUMN = {"chunks_fts": (), "doc_terms_fts": ("identity", "body")}
# The scratch tables are temp tables of a connection, which threads may share.
_scratch_lock = threading.Lock()


def _scratch(db: sqlite3.Connection, name: str, columns: Sequence[str]) -> str:
    """A temp FTS5 table ``name`` (with ``columns``, tokenized as the indexes are) and its
    fts5vocab tables ``<name>_row``, ``<name>_col`` and ``<name>_instance``, created once per
    connection; emptied."""
    exists = db.execute("SELECT 1 FROM sqlite_temp_master WHERE name=?", (name,)).fetchone()
    if not exists:
        db.execute(f"CREATE VIRTUAL TABLE temp.{name} USING fts5({', '.join(columns)}, "
                   f"{_TOKENIZE})")
        for kind in ("row", "col", "instance"):
            db.execute(f"CREATE VIRTUAL TABLE temp.{name}_{kind} USING fts5vocab(temp, {name}, "
                       f"{kind})")
    else:
        db.execute(f"DELETE FROM temp.{name}")
    return name


def complete(db: sqlite3.Connection) -> bool:
    row = db.execute("SELECT rows FROM term_rows WHERE tbl='' AND col=? AND term=''",
                     (_COMPLETE,)).fetchone()
    return row is not None and row[0] == VERSION


def add(db: sqlite3.Connection, table: str, rows: Iterable[Sequence[str]], sign: int = 1) -> None:
    """Count ``rows`` (one text per column of ``table``) as added (``sign`` 1) or removed (-1).
    Nothing is done while the counts are not complete (the rebuild will count them)."""
    rows = list(rows)
    if not rows or not complete(db):
        return
    upsert = ("INSERT INTO term_rows(tbl, col, term, rows) SELECT ?, {col}, term, ? * doc "
              "FROM temp.{vocab} WHERE {where} "
              "ON CONFLICT(tbl, col, term) DO UPDATE SET rows = rows + excluded.rows")
    with _scratch_lock:
        scratch = _scratch(db, f"count_{table}", COLUMNS[table])
        db.executemany(f"INSERT INTO temp.{scratch} VALUES ({', '.join('?' * len(rows[0]))})",
                       rows)
        # In SQL, from the scratch table's vocabulary: a document's thousands of terms never
        # pass through Python.
        db.execute(upsert.format(col="?", vocab=f"{scratch}_row", where="true"),
                   (table, ANY_COLUMN, sign))
        for col in PER_COLUMN[table]:
            db.execute(upsert.format(col="col", vocab=f"{scratch}_col", where="col = ?"),
                       (table, sign, col))
        if sign < 0:
            db.execute(f"DELETE FROM term_rows WHERE tbl=? AND rows <= 0 AND term IN "
                       f"(SELECT term FROM temp.{scratch}_row)", (table,))
        db.execute(f"DELETE FROM temp.{scratch}")
    db.execute("INSERT INTO term_rows(tbl, col, term, rows) VALUES (?, ?, '', ?) "
               "ON CONFLICT(tbl, col, term) DO UPDATE SET rows = rows + excluded.rows",
               (table, ANY_COLUMN, sign * len(rows)))
    _new_state(db, [table])


def rebuild(db: sqlite3.Connection) -> None:
    """Count every word of the indexes again, from the indexes themselves; the counts are then
    complete. Inside the caller's transaction."""
    db.execute("DELETE FROM term_rows")
    for table in COLUMNS:
        for kind in ("row", "col"):
            db.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.all_{table}_{kind} "
                       f"USING fts5vocab(main, {table}, {kind})")
        db.execute(f"INSERT INTO term_rows(tbl, col, term, rows) SELECT ?, ?, term, doc "
                   f"FROM temp.all_{table}_row", (table, ANY_COLUMN))
        for col in PER_COLUMN[table]:
            db.execute(f"INSERT INTO term_rows(tbl, col, term, rows) SELECT ?, col, term, doc "
                       f"FROM temp.all_{table}_col WHERE col=?", (table, col))
    db.execute("INSERT INTO term_rows VALUES ('chunks_fts', ?, '', (SELECT count(*) FROM chunks))",
               (ANY_COLUMN,))
    db.execute("INSERT INTO term_rows VALUES ('doc_terms_fts', ?, '', "
               "(SELECT count(*) FROM doc_terms))", (ANY_COLUMN,))
    db.execute("INSERT INTO term_rows VALUES ('', ?, '', ?)", (_COMPLETE, VERSION))
    _new_state(db, COLUMNS)


def clear(db: sqlite3.Connection) -> None:
    """Every row of the indexes removed: every count is zero (and complete, if it was)."""
    if complete(db):
        db.execute("DELETE FROM term_rows WHERE tbl != ''")
        db.executemany("INSERT INTO term_rows VALUES (?, ?, '', 0)",
                       [(table, ANY_COLUMN) for table in COLUMNS])
        _new_state(db, COLUMNS)
    else:
        db.execute("DELETE FROM term_rows")


def _new_state(db: sqlite3.Connection, tables: Iterable[str]) -> None:
    db.executemany("INSERT INTO term_rows(tbl, col, term, rows) VALUES (?, ?, '', ?) "
                   "ON CONFLICT(tbl, col, term) DO UPDATE SET rows = excluded.rows",
                   [(table, _STATE, random.getrandbits(62)) for table in tables])


def state(db: sqlite3.Connection, table: str) -> int | None:
    """A number that changes whenever the rows of ``table`` change (None while the counts are
    not complete): what is computed from the whole index can be kept under it."""
    return _kept(db, table, _STATE)


def total(db: sqlite3.Connection, table: str) -> int | None:
    """Rows of ``table``; None while the counts are not complete."""
    return _kept(db, table, ANY_COLUMN, missing=0)


def _kept(db: sqlite3.Connection, table: str, col: str, missing: int | None = None
          ) -> int | None:
    """The number kept for ``table`` under ``col`` and the empty term (``missing`` if there is
    none); None while the counts are not complete."""
    if not complete(db):
        return None
    row = db.execute("SELECT rows FROM term_rows WHERE tbl=? AND col=? AND term=''",
                     (table, col)).fetchone()
    return missing if row is None else int(row[0])


def index_terms(db: sqlite3.Connection, words: Sequence[str]) -> list[list[str]]:
    """Each word as the index terms FTS5 makes of it ("infection" -> ["infect"])."""
    if not words:
        return []
    with _scratch_lock:
        scratch = _scratch(db, "count_words", ("word",))
        db.executemany(f"INSERT INTO temp.{scratch}(rowid, word) VALUES (?, ?)",
                       list(enumerate(words)))
        terms: list[list[str]] = [[] for _ in words]
        for term, doc in db.execute(
                f"SELECT term, doc FROM temp.{scratch}_instance ORDER BY doc, offset"):
            terms[doc].append(term)
        db.execute(f"DELETE FROM temp.{scratch}")
    return terms


def rows_with(db: sqlite3.Connection, table: str, column: str | None,
              words: Sequence[str]) -> dict[str, int]:
    """Rows of ``table`` holding each word (in ``column``, or anywhere for None), for the words
    that are one index term each; {} while the counts are not complete."""
    return rows_in_columns(db, table, [column], words)[0]


def rows_in_columns(db: sqlite3.Connection, table: str, columns: Sequence[str | None],
                    words: Sequence[str]) -> list[dict[str, int]]:
    """``rows_with`` for each of ``columns``, the words turned into index terms once."""
    if not complete(db):
        return [{} for _ in columns]
    single = {word: terms[0] for word, terms in zip(words, index_terms(db, words), strict=True)
              if len(terms) == 1}  # none (only separators) or a phrase: counted in the index
    counts: list[dict[str, int]] = []
    for column in columns:
        found = {}
        for word, term in single.items():
            row = db.execute("SELECT rows FROM term_rows WHERE tbl=? AND col=? AND term=?",
                             (table, column or ANY_COLUMN, term)).fetchone()
            found[word] = int(row[0]) if row else 0
        counts.append(found)
    return counts
