"""Which pages carry a financial statement and which fiscal years a filing covers: two small
tables in the registry database beside the keyword index.

Written and deleted in the transactions that write and delete a document's keyword rows, so
they agree with the registry whatever moment a process is killed. The facts themselves are read
by ``ingest.filings`` (pure); this module only stores and queries them.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Sequence

from ingest.filings import AskedPeriod, DocumentFacts
from ingest.lexical import STEM_CHARS, StoredChunk, query_terms, stems

SCHEMA = """
CREATE TABLE IF NOT EXISTS statement_pages (
    doc_id TEXT NOT NULL,
    page INTEGER NOT NULL,
    statement TEXT NOT NULL,
    PRIMARY KEY (doc_id, page)
);
CREATE TABLE IF NOT EXISTS filing_periods (
    doc_id TEXT NOT NULL,
    year INTEGER NOT NULL,
    quarter INTEGER NOT NULL,
    period_end TEXT NOT NULL,
    PRIMARY KEY (doc_id, year, quarter)
);
CREATE INDEX IF NOT EXISTS filing_periods_year ON filing_periods(year, quarter);
"""


def insert(db: sqlite3.Connection, doc_id: str, facts: DocumentFacts) -> None:
    delete_document(db, doc_id)
    db.executemany("INSERT INTO statement_pages(doc_id, page, statement) VALUES (?, ?, ?)",
                   ((doc_id, page, kind) for page, kind in sorted(facts.statements.items())))
    db.executemany("INSERT INTO filing_periods(doc_id, year, quarter, period_end) "
                   "VALUES (?, ?, ?, ?)",
                   ((doc_id, year, quarter, facts.period_end)
                    for year, quarter in facts.periods))


def delete_document(db: sqlite3.Connection, doc_id: str) -> None:
    db.execute("DELETE FROM statement_pages WHERE doc_id=?", (doc_id,))
    db.execute("DELETE FROM filing_periods WHERE doc_id=?", (doc_id,))


def delete_all(db: sqlite3.Connection) -> None:
    db.execute("DELETE FROM statement_pages")
    db.execute("DELETE FROM filing_periods")


def covering(db: sqlite3.Connection, doc_ids: Collection[str] | None,
             period: AskedPeriod) -> set[str]:
    """Those of ``doc_ids`` (None: every document) that report on ``period``: its quarter where
    one is asked and some document reports on it, else its year; with no year, the ones whose
    period ends last."""
    scope, args = ("", ()) if doc_ids is None else \
        (" AND doc_id IN (SELECT value FROM json_each(?))", (json.dumps(sorted(doc_ids)),))
    if period.year is None:
        if not period.latest:
            return set()
        return {r[0] for r in db.execute(
            f"SELECT DISTINCT doc_id FROM filing_periods WHERE period_end = (SELECT "
            f"max(period_end) FROM filing_periods WHERE period_end != ''{scope}){scope}",
            args + args)}
    for quarter in dict.fromkeys((period.quarter, 0)):
        found = {r[0] for r in db.execute(
            f"SELECT doc_id FROM filing_periods WHERE year=? AND quarter=?{scope}",
            (period.year, quarter, *args))}
        if found:
            return found
    return set()


def statement_chunks(db: sqlite3.Connection, text: str, statements: Sequence[str],
                     doc_ids: Collection[str], limit: int) -> list[StoredChunk]:
    """Chunks of the pages of ``doc_ids`` that carry one of ``statements``: those holding more
    of the question's words first, then in document order (a statement answers "capital
    expenditure" on a row worded "purchases of property and equipment").

    Scored here rather than by FTS5: a MATCH limited to a list of rowids runs the whole match
    once per rowid (2-8 s on financebench), and these are a few dozen chunks."""
    rows = db.execute(
        "SELECT c.chunk_id, c.doc_id, c.page, c.idx, c.start, c.end, c.body "
        "FROM statement_pages s JOIN chunks c ON c.doc_id = s.doc_id AND c.page = s.page "
        "WHERE s.doc_id IN (SELECT value FROM json_each(?)) AND s.statement IN "
        "(SELECT value FROM json_each(?)) ORDER BY c.doc_id, c.idx",
        (json.dumps(sorted(doc_ids)), json.dumps(list(statements)))).fetchall()
    terms = {t[:STEM_CHARS] for t in query_terms(text)}
    scored = []
    for order, row in enumerate(rows):
        scored.append((-len(terms & set(stems(row[6]))), order, StoredChunk(*row)))
    scored.sort(key=lambda item: item[:2])
    return [chunk for _, _, chunk in scored[:limit]]
