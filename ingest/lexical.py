"""The lexical (BM25) side index: SQLite FTS5 in the registry database.

Two levels: every chunk (body + its document's context) for keyword search, and every document
(its identity: title, file name, opening; and all its text) for telling which documents a
question names.

Living in the registry's database means a document's lexical rows are written in the same
transaction that marks it ``indexed`` and deleted in the one that marks it ``removing``: the
lexical index can never disagree with the registry, whatever moment a process is killed.

Over 400 lines because both levels' schema, writes and cost-bounded queries share the FTS5 tables,
their query syntax and the anchoring rule; split, each half would import the other's internals.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from ingest import term_counts

SCHEMA = term_counts.SCHEMA + """
CREATE TABLE IF NOT EXISTS chunks (
    rowid INTEGER PRIMARY KEY,
    chunk_id TEXT NOT NULL UNIQUE,
    doc_id TEXT NOT NULL,
    page INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    body TEXT NOT NULL,
    context TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    body, context, content='chunks', content_rowid='rowid',
    tokenize='porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS chunks_ai AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts(rowid, body, context) VALUES (new.rowid, new.body, new.context);
END;
CREATE TRIGGER IF NOT EXISTS chunks_ad AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts(chunks_fts, rowid, body, context)
    VALUES ('delete', old.rowid, old.body, old.context);
END;
CREATE TABLE IF NOT EXISTS doc_terms (rowid INTEGER PRIMARY KEY, doc_id TEXT NOT NULL UNIQUE);
CREATE VIRTUAL TABLE IF NOT EXISTS doc_terms_fts USING fts5(
    identity, body, content='', tokenize='porter unicode61 remove_diacritics 2'
);
"""

# Words so common that OR-ing them into a query only costs time at 100k chunks.
STOPWORDS = frozenset(
    "a an and are as at be but by for from has have how i in is it its of on or that the this to "
    "was were what when where which who whom why will with did do does can could should would "
    "there their they them these those than then so such into about also been being our your "
    "you we he she his her not no".split()
)
_WORD = re.compile(r"\w+", re.UNICODE)
# Context (title, file name) matters, but less than the passage itself.
BODY_WEIGHT, CONTEXT_WEIGHT = 1.0, 0.4
# A word in this many chunks or more is "common" for the cost bound of keyword search
# (2 % of 100k chunks; p95 of the keyword query 266 -> 28 ms there, see docs/BENCHMARKS.md).
ANCHOR_MAX_ROWS = 2000
# Words in more than this share of the rows, and more than this many, are not scored
# (``_worth_scoring``; needs the term counts). With the counts, hybrid search at a million chunks
# p95 214 -> 86 ms, measured side by side (docs/BENCHMARKS.md); nothing changes up to 100,000.
COMMON_SHARE, COMMON_MIN_ROWS = 0.05, 50_000
# The same bound for the document-level index (topical_documents): a library of fewer documents
# than this is never affected; BM25 over whole documents at 18,000 of them cost 30 / 67 ms.
ANCHOR_MAX_DOCUMENTS = 2000
# Document naming (identifying_terms); chosen on covidqa and docugami dev together.
MAX_NAMED_SHARE, MIN_IDENTITY_SHARE = 0.5, 0.5
# "Used most by the documents it is on the cover of" is evidence only in a large library: among
# three papers, every title word is (3-paper covidqa subset: hit@4 0.967 -> 0.902 without this).
MOST_USED_MAX_SHARE = 0.1


@dataclass(frozen=True)
class StoredChunk:
    """A chunk as stored: its document, page, position and character offsets on the page."""

    chunk_id: str
    doc_id: str
    page: int
    index: int
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class LexicalRow:
    """What the keyword index stores for a chunk: the chunk and its document's context."""

    chunk: StoredChunk
    context: str


@dataclass(frozen=True)
class LexicalHit:
    chunk: StoredChunk
    score: float


# Words compared by their first letters: a crude stem that makes "antibodies"/"antibody" and
# "infected"/"infection" one word (phrase matching, statement pages).
STEM_CHARS = 6


def stems(text: str) -> list[str]:
    return [w[:STEM_CHARS] for w in _WORD.findall(text.lower())]


def query_terms(text: str) -> list[str]:
    """Distinct lowercase words of a query, stopwords dropped (kept if nothing else is left)."""
    words = list(dict.fromkeys(w.lower() for w in _WORD.findall(text)))
    content = [w for w in words if w not in STOPWORDS]
    return content or words


def _quoted(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def _any_of(terms: Iterable[str]) -> str:
    return " OR ".join(_quoted(t) for t in terms)


def match_expression(text: str) -> str | None:
    """An FTS5 MATCH expression OR-ing the query's words, each quoted (no query syntax leaks)."""
    terms = query_terms(text)
    return _any_of(terms) if terms else None


def insert(db: sqlite3.Connection, rows: Iterable[LexicalRow]) -> None:
    """Add chunks, and their documents to the document-level index (replacing what was there)."""
    rows = list(rows)
    for doc_id in dict.fromkeys(r.chunk.doc_id for r in rows):
        _delete_document_terms(db, doc_id)
    db.executemany(
        "INSERT OR REPLACE INTO chunks(chunk_id, doc_id, page, idx, start, end, body, context) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        ((r.chunk.chunk_id, r.chunk.doc_id, r.chunk.page, r.chunk.index, r.chunk.start,
          r.chunk.end, r.chunk.text, r.context) for r in rows),
    )
    term_counts.add(db, "chunks_fts", ((r.chunk.text, r.context) for r in rows))
    for doc_id in dict.fromkeys(r.chunk.doc_id for r in rows):
        identity, body = _document_text(db, doc_id)
        rowid = db.execute("INSERT INTO doc_terms(doc_id) VALUES (?)", (doc_id,)).lastrowid
        db.execute("INSERT INTO doc_terms_fts(rowid, identity, body) VALUES (?, ?, ?)",
                   (rowid, identity, body))
        term_counts.add(db, "doc_terms_fts", [(identity, body)])


def _document_text(db: sqlite3.Connection, doc_id: str) -> tuple[str, str]:
    """A document's identity and text, rebuilt from its stored chunks: the document index is
    contentless, so removing a row needs exactly the text that was indexed."""
    rows = db.execute("SELECT body, context FROM chunks WHERE doc_id=? ORDER BY idx, rowid",
                      (doc_id,)).fetchall()
    return (identity(rows[0][1]) if rows else ""), "\n".join(r[0] for r in rows)


def identity(context: str) -> str:
    """The document's part of a chunk's context (its first line; the page's follows)."""
    return context.split("\n", 1)[0]


def _delete_document_terms(db: sqlite3.Connection, doc_id: str) -> None:
    row = db.execute("SELECT rowid FROM doc_terms WHERE doc_id=?", (doc_id,)).fetchone()
    if row is None:
        return
    identity, body = _document_text(db, doc_id)
    db.execute("INSERT INTO doc_terms_fts(doc_terms_fts, rowid, identity, body) "
               "VALUES ('delete', ?, ?, ?)", (row[0], identity, body))
    db.execute("DELETE FROM doc_terms WHERE rowid=?", (row[0],))
    term_counts.add(db, "doc_terms_fts", [(identity, body)], sign=-1)


def delete_document(db: sqlite3.Connection, doc_id: str) -> None:
    _delete_document_terms(db, doc_id)
    if term_counts.complete(db):
        term_counts.add(db, "chunks_fts", db.execute(
            "SELECT body, context FROM chunks WHERE doc_id=?", (doc_id,)), sign=-1)
    db.execute("DELETE FROM chunks WHERE doc_id=?", (doc_id,))


def optimize(db: sqlite3.Connection) -> None:
    """Merge the keyword index's segments into one. Rewriting every row leaves FTS5 with the old
    entries' deletions in many segments: keyword search on financebench ran 7x slower (p50 218
    vs 30 ms) until this ran (12 s there)."""
    db.execute("INSERT INTO chunks_fts(chunks_fts) VALUES ('optimize')")
    db.execute("INSERT INTO doc_terms_fts(doc_terms_fts) VALUES ('optimize')")


def delete_all(db: sqlite3.Connection) -> None:
    db.execute("DELETE FROM chunks")
    db.execute("DELETE FROM doc_terms")
    db.execute("INSERT INTO doc_terms_fts(doc_terms_fts) VALUES ('delete-all')")
    term_counts.clear(db)


# Rows of an FTS table whose document is in a scope (a JSON list of doc ids). The "+" keeps
# SQLite from handing the rowid list to FTS5, which would then re-run the whole match once per
# chunk (500 documents of 100k chunks: 13 s, against 24 ms checked row by row).
_IN_SCOPE = {
    "chunks_fts": " AND +rowid IN (SELECT rowid FROM chunks WHERE doc_id IN "
                  "(SELECT value FROM json_each(?)))",
    "doc_terms_fts": " AND +rowid IN (SELECT rowid FROM doc_terms WHERE doc_id IN "
                     "(SELECT value FROM json_each(?)))",
}


def _scope_filter(table: str, doc_ids: Collection[str] | None) -> tuple[str, tuple[str, ...]]:
    """The SQL condition (to follow ``WHERE table MATCH ?``) and its parameter that keep only
    rows of the documents ``doc_ids``; nothing for None (the whole index)."""
    if doc_ids is None:
        return "", ()
    return _IN_SCOPE[table], (json.dumps(sorted(doc_ids)),)


def _matches(db: sqlite3.Connection, table: str, expression: str, limit: int,
             doc_ids: Collection[str] | None = None) -> int:
    """How many rows match (of the documents ``doc_ids`` only, when given), counting no further
    than ``limit`` (cheap: rowids only)."""
    scope, scope_args = _scope_filter(table, doc_ids)
    return int(db.execute(
        f"SELECT count(*) FROM (SELECT rowid FROM {table} WHERE {table} MATCH ?{scope} LIMIT ?)",
        (expression, *scope_args, limit),
    ).fetchone()[0])


def _scope_chunks(db: sqlite3.Connection, doc_ids: Collection[str]) -> int:
    return int(db.execute(
        "SELECT count(*) FROM chunks WHERE doc_id IN (SELECT value FROM json_each(?))",
        (json.dumps(sorted(doc_ids)),),
    ).fetchone()[0])


def anchored_expression(db: sqlite3.Connection, text: str,
                        doc_ids: Collection[str] | None = None) -> str | None:
    """The query's words OR-ed, restricted to chunks holding at least one of its rarer words.

    BM25's cost is the rows it scores: a word in thousands of chunks ("virus", "revenue") makes
    every one of them a candidate. Scoring only chunks that also hold a word found in fewer than
    ANCHOR_MAX_ROWS chunks bounds that cost whatever the index size; a small index is unaffected
    (no word reaches the bound) and gets the exact full query. With a scope (``doc_ids``) words
    are counted in its chunks only.
    """
    terms = query_terms(text)
    if not terms:
        return None
    if doc_ids is not None and _scope_chunks(db, doc_ids) < ANCHOR_MAX_ROWS:
        return _any_of(terms)  # no word can reach the bound in so few chunks: counting would cost
    return _anchored(db, "chunks_fts", "", terms, ANCHOR_MAX_ROWS, doc_ids)


def _anchored(db: sqlite3.Connection, table: str, column: str, terms: list[str], bound: int,
              doc_ids: Collection[str] | None) -> str | None:
    """``terms`` OR-ed (in ``column`` of ``table`` when given), restricted to rows holding a
    word found in fewer than ``bound`` rows or, when every word is that common, the two least
    common words together; very common words are left out (``_worth_scoring``), and with them
    the search (None) when no word is left. Words are counted from the term counts where they
    are kept (the whole index: a scope is counted in the index)."""
    def within(expression: str) -> str:
        return f"{column} : ({expression})" if column else expression

    def rows(expression: str, limit: int) -> int:
        return _matches(db, table, within(expression), limit, doc_ids)

    known = term_counts.rows_with(db, table, column or None, terms) if doc_ids is None else {}

    def count(term: str, limit: int) -> int:
        return known[term] if term in known else rows(_quoted(term), limit)

    terms = _worth_scoring(db, table, terms, known)
    if not terms:
        return None
    full = _any_of(terms)
    counts = {t: count(t, bound) for t in terms}
    # A word of the library that no row of the scope holds is no anchor there: the query
    # anchored on it alone would find nothing.
    anchors = terms if doc_ids is None else [t for t in terms if counts[t]]
    rare = [t for t in anchors if counts[t] < bound]
    if len(rare) == len(terms) or not anchors:
        return within(full)
    if rare:
        return within(f"({full}) AND ({_any_of(rare)})")
    # Only common words: rows holding the two least common of them together (counted exactly
    # where the counts are kept; counting in the index stops at 10 x bound).
    counts = {t: count(t, 10 * bound) for t in anchors}
    pair = sorted(anchors, key=lambda t: counts[t])[:2]
    return within(f"({full}) AND ({_all_of(pair)})")


def _worth_scoring(db: sqlite3.Connection, table: str, terms: list[str],
                   known: dict[str, int]) -> list[str]:
    """``terms`` without those found in more than COMMON_SHARE of the rows and more than
    COMMON_MIN_ROWS of them.

    FTS5's BM25 reads the whole posting list of every word it scores to count its rows, and
    scores every row the query leaves: at a million chunks a question's words held up to 1.9
    million postings. The words dropped weigh least: BM25's IDF ln((N - n + 0.5) / (n + 0.5))
    is under 2.9 for a word in 5 % of the rows (6.2 for a word in 2,000 of a million), and FTS5
    scores a word in half of them or more as zero, which is all this drops in a library of up
    to 2 x COMMON_MIN_ROWS rows (financebench's 79,430 chunks: some words of 62 of its 81
    questions left out, every ranking the same)."""
    total = term_counts.total(db, table) if known else None
    if not total:
        return terms
    common = max(COMMON_SHARE * total, COMMON_MIN_ROWS)
    return [t for t in terms if known.get(t, 0) <= common]


def _all_of(terms: Iterable[str]) -> str:
    return " AND ".join(_quoted(t) for t in terms)


# A word not found as such is looked up by its first letters (all but the last three, at least
# five, without a trailing vowel the stemmer would change): "phagocytic" finds "phagocytosis",
# "Canadian" finds "Canada".
UNKNOWN_PREFIX_MIN, UNKNOWN_PREFIX_SLACK = 5, 3
# Words this long or longer are checked for a one-letter typo of a word of the index.
TYPO_MIN_CHARS = 7


def one_edit_away(word: str) -> set[str]:
    """Every a-z word one typo away from ``word``: a letter dropped, added, changed, or two
    neighbours swapped (Norvig's edits1)."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    return ({a + b[1:] for a, b in splits if b}
            | {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
            | {a + c + b[1:] for a, b in splits if b for c in letters}
            | {a + c + b for a, b in splits for c in letters}) - {word}


def unknown_terms(db: sqlite3.Connection, text: str,
                  doc_ids: Collection[str] | None = None) -> list[str]:
    """The query's words that no chunk of the index (of the documents ``doc_ids``, when given)
    contains, even by their first letters or with one typo fixed: a question about something
    the documents never mention. Words with digits are left to the passage check (FTS splits
    "covid19" unlike the text's "COVID-19")."""
    unknown = []
    for term in query_terms(text):
        if not term.isalpha():
            continue
        if _matches(db, "chunks_fts", _quoted(term), 1, doc_ids):
            continue
        prefix = term[: max(UNKNOWN_PREFIX_MIN, len(term) - UNKNOWN_PREFIX_SLACK)]
        prefix = prefix.rstrip("aeiouy") if len(prefix.rstrip("aeiouy")) >= 4 else prefix
        if _matches(db, "chunks_fts", _quoted(prefix) + " *", 1, doc_ids):
            continue
        # "infleunza", "Clodstridium": a typo of a word the documents use is not a question
        # about something they lack. Short words are left out: too many words are one edit
        # from them ("cat" → "bat", "car", "cut").
        if len(term) >= TYPO_MIN_CHARS and term.isascii() and _matches(
                db, "chunks_fts", _any_of(sorted(one_edit_away(term))), 1, doc_ids):
            continue
        unknown.append(term)
    return unknown


def search(db: sqlite3.Connection, text: str, limit: int,
           doc_ids: Collection[str] | None = None) -> list[LexicalHit]:
    """Best ``limit`` chunks by BM25 over the query's words (higher score is better), of the
    documents ``doc_ids`` only when given."""
    expression = anchored_expression(db, text, doc_ids)
    if expression is None:
        return []
    # The scope is applied before the LIMIT: a top-N filtered afterwards can leave nothing.
    scope, scope_args = _scope_filter("chunks_fts", doc_ids)
    # Rank on the FTS table alone, then fetch the few winners: joining first reads every
    # matching chunk's row before the sort (2x slower at 100k chunks).
    rows = db.execute(
        "SELECT c.chunk_id, c.doc_id, c.page, c.idx, c.start, c.end, c.body, ranked.rank FROM ("
        f"SELECT rowid, bm25(chunks_fts, {BODY_WEIGHT}, {CONTEXT_WEIGHT}) AS rank "
        f"FROM chunks_fts WHERE chunks_fts MATCH ?{scope} ORDER BY rank LIMIT ?"
        ") AS ranked JOIN chunks c ON c.rowid = ranked.rowid ORDER BY ranked.rank",
        (expression, *scope_args, limit),
    ).fetchall()
    return [LexicalHit(StoredChunk(*r[:7]), -float(r[7])) for r in rows]


def identifying_terms(db: sqlite3.Connection, text: str) -> list[str]:
    """The query's words that name documents: found in the identity (title, file name, opening)
    of at most MAX_NAMED_SHARE of the documents, and there in at least MIN_IDENTITY_SHARE of the
    documents that use the word at all, or (on at most MOST_USED_MAX_SHARE of the covers) in the
    identity of exactly the documents whose text uses it most.

    "Apple" in a folder of filings is in the opening of Apple's filings and barely anywhere else;
    "Amazon" is mentioned by 19 of 74 filings, but Amazon's own use it most; "children" in a
    folder of papers is in a few titles but in the text of many more papers, not the ones using
    it most, so it says what the question is about, not which paper it means.
    """
    total = term_counts.total(db, "doc_terms_fts")
    if total is None:
        total = int(db.execute("SELECT count(*) FROM doc_terms").fetchone()[0])
    if total < 2:
        return []
    terms = query_terms(text)
    # Exact where the counts are kept; else each count stops where its test is decided (one
    # row past the share it is compared with): a common word's rows are otherwise counted to
    # the end (named 52 ms of a 143 ms search at 18,000 documents). The decisions are the same.
    in_identities, in_documents = term_counts.rows_in_columns(db, "doc_terms_fts",
                                                              ["identity", None], terms)
    named = []
    named_at_most = int(MAX_NAMED_SHARE * total)
    for term in terms:
        in_identity = in_identities[term] if term in in_identities else _matches(
            db, "doc_terms_fts", f"identity : {_quoted(term)}", named_at_most + 1)
        if not in_identity or in_identity > named_at_most:
            continue
        anywhere = in_documents[term] if term in in_documents else _matches(
            db, "doc_terms_fts", _quoted(term), int(in_identity / MIN_IDENTITY_SHARE) + 1)
        if in_identity >= MIN_IDENTITY_SHARE * anywhere or (
                in_identity <= MOST_USED_MAX_SHARE * total and _uses_most(db, term, in_identity)):
            named.append(term)
    return named


_LETTERS_OR_DIGITS = re.compile(r"[^\W\d_]+|\d+")


def with_parts(terms: Iterable[str]) -> list[str]:
    """The terms plus the letter and digit runs of mixed ones: "fy2019" also looks for "2019",
    as the filing's name or cover page writes the year."""
    out = []
    for term in terms:
        out.append(term)
        parts = _LETTERS_OR_DIGITS.findall(term)
        if len(parts) > 1:
            out.extend(parts)
    return list(dict.fromkeys(out))


def _in_identity(terms: Iterable[str]) -> str:
    return f"identity : ({_any_of(terms)})"


# _uses_most's answers, by (database file, index state, word, covers): a fact of the library
# until its document index changes (a new state). At a million chunks the BM25 behind one
# answer took 5-27 ms, and a question asked up to 9.
_USES_MOST: dict[tuple[str, int, str, int], bool] = {}
_USES_MOST_KEPT = 10_000


def _uses_most(db: sqlite3.Connection, term: str, count: int) -> bool:
    """Whether the documents with ``term`` in their identity are the ones whose text uses it
    most (by BM25 over the body)."""
    state = term_counts.state(db, "doc_terms_fts")
    key = (_database_file(db), state, term, count) if state is not None else None
    if key is not None and key in _USES_MOST:
        return _USES_MOST[key]
    identity = {r[0] for r in db.execute(
        "SELECT rowid FROM doc_terms_fts WHERE doc_terms_fts MATCH ?",
        (f"identity : {_quoted(term)}",))}
    top = {r[0] for r in db.execute(
        "SELECT rowid FROM doc_terms_fts WHERE doc_terms_fts MATCH ? "
        "ORDER BY bm25(doc_terms_fts, 0.0, 1.0) LIMIT ?", (f"body : {_quoted(term)}", count))}
    if key is not None:
        if len(_USES_MOST) >= _USES_MOST_KEPT:
            _USES_MOST.clear()
        _USES_MOST[key] = top == identity
    return top == identity


def _database_file(db: sqlite3.Connection) -> str:
    return str(db.execute("PRAGMA database_list").fetchone()[2])


def named_documents(db: sqlite3.Connection, text: str) -> dict[str, float]:
    """Documents the query names (see ``identifying_terms``), each with its BM25 score over all
    the query's words in its identity: "Apple's Q3 2023 10-Q" names every Apple filing, and
    the words "Q3" and "2023" then favour the one whose name or cover page has them too
    ("FY2023" counts as "2023" there)."""
    named = identifying_terms(db, text)
    if not named:
        return {}
    rowids = {r[0] for r in db.execute(
        "SELECT rowid FROM doc_terms_fts WHERE doc_terms_fts MATCH ?", (_in_identity(named),))}
    # Scored among the named documents only (BM25 is computed per row returned; every row of
    # the match would otherwise be scored to be dropped).
    scores = db.execute(
        "SELECT d.doc_id, bm25(doc_terms_fts, 1.0, 0.0) FROM doc_terms_fts "
        "JOIN doc_terms d ON d.rowid = doc_terms_fts.rowid WHERE doc_terms_fts MATCH ? "
        "AND +doc_terms_fts.rowid IN (SELECT value FROM json_each(?))",
        (_in_identity(with_parts(query_terms(text))), json.dumps(sorted(rowids))),
    ).fetchall()
    return {doc_id: -float(score) for doc_id, score in scores}


def topical_documents(db: sqlite3.Connection, text: str, limit: int,
                      doc_ids: Collection[str] | None = None) -> list[str]:
    """The ``limit`` documents (of ``doc_ids`` only, when given) whose whole text matches the
    query's words best (BM25), best first: what the question is about, where no single passage
    says it. One row per document, so the cost follows the number of documents, not of chunks;
    past ANCHOR_MAX_DOCUMENTS documents holding a word, only those holding its rarer words (or
    its least common words together) are scored, as the keyword search bounds chunks."""
    terms = query_terms(text)
    if not terms:
        return []
    if doc_ids is not None and len(doc_ids) < ANCHOR_MAX_DOCUMENTS:
        expression: str | None = f"body : ({_any_of(terms)})"
    else:
        expression = _anchored(db, "doc_terms_fts", "body", terms, ANCHOR_MAX_DOCUMENTS, doc_ids)
    if expression is None:
        return []
    scope, scope_args = _scope_filter("doc_terms_fts", doc_ids)
    return [r[0] for r in db.execute(
        "SELECT d.doc_id FROM ("
        "SELECT rowid, bm25(doc_terms_fts, 0.0, 1.0) AS rank FROM doc_terms_fts "
        f"WHERE doc_terms_fts MATCH ?{scope} ORDER BY rank LIMIT ?"
        ") AS ranked JOIN doc_terms d ON d.rowid = ranked.rowid ORDER BY ranked.rank",
        (expression, *scope_args, limit),
    )]


def chunk_counts(db: sqlite3.Connection) -> dict[str, int]:
    return dict(db.execute("SELECT doc_id, COUNT(*) FROM chunks GROUP BY doc_id").fetchall())


def document_chunks(db: sqlite3.Connection, doc_id: str) -> list[StoredChunk]:
    """A document's chunks as stored beside its keyword rows, in index order."""
    return [StoredChunk(*r) for r in db.execute(
        "SELECT chunk_id, doc_id, page, idx, start, end, body FROM chunks WHERE doc_id=? "
        "ORDER BY idx", (doc_id,))]


def chunk_ids(db: sqlite3.Connection) -> list[str]:
    return [r[0] for r in db.execute("SELECT chunk_id FROM chunks")]
