"""The keyword indexes' term counts: kept exact by every write, used by the keyword searches."""

from __future__ import annotations

from pathlib import Path

import pytest
from indexcheck import recounted_term_rows, term_rows

from ingest import lexical, term_counts
from ingest.lexical import LexicalRow, StoredChunk
from ingest.registry import INDEXED, PathEntry, Registry

PAPERS = {
    "flu": ("Influenza in children | flu.pdf",
            ["Infected children were admitted.", "Infection rates fell; the infections of "
             "Zürich's children were fewer.", "Vaccines protect children against influenza."]),
    "mers": ("MERS-CoV in camels | mers.pdf",
             ["MERS spreads from camels.", "The infection lasts days in camels.",
              "Covid_19 was not studied."]),
    "bats": ("Bats and viruses | bats.pdf", ["Bats carry many viruses.", "Children avoid bats."]),
}


def _rows(doc_id: str) -> list[LexicalRow]:
    identity, bodies = PAPERS[doc_id]
    return [LexicalRow(StoredChunk(f"{doc_id}-{i}", doc_id, i, i, 0, len(body), body),
                       f"{identity}\npage {i + 1}") for i, body in enumerate(bodies)]


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    registry = Registry(tmp_path / "registry.sqlite3")
    registry.rebuild_term_counts()  # a new index: counted from the start
    return registry


def test_every_write_keeps_the_counts_equal_to_counting_the_index_again(registry):
    db = registry._db
    assert registry.term_counts_current() and term_rows(db) == recounted_term_rows(db)
    for doc_id in PAPERS:
        registry.replace_lexical(doc_id, _rows(doc_id))
        assert term_rows(db) == recounted_term_rows(db)
    # "infected", "infection" and "infections" are one index term, counted once per row.
    assert term_counts.rows_with(db, "chunks_fts", None, ["infection"]) == {"infection": 3}
    assert term_counts.rows_with(db, "doc_terms_fts", "identity", ["children"]) == {"children": 1}
    registry.replace_lexical("flu", _rows("flu")[:1])  # re-indexed with fewer chunks
    assert term_rows(db) == recounted_term_rows(db)
    registry.mark_removing("mers")
    assert term_rows(db) == recounted_term_rows(db)
    assert term_counts.rows_with(db, "chunks_fts", None, ["camels"]) == {"camels": 0}
    assert term_counts.total(db, "chunks_fts") == 3
    registry.clear()
    assert term_rows(db) == recounted_term_rows(db) and term_counts.total(db, "chunks_fts") == 0


def test_a_question_s_words_are_counted_as_the_index_matches_them(registry):
    db = registry._db
    for doc_id in PAPERS:
        registry.replace_lexical(doc_id, _rows(doc_id))
    words = ["infections", "zurich", "children", "viruses", "covid_19", "absent", "_"]
    counted = term_counts.rows_with(db, "chunks_fts", None, words)
    # A word FTS5 makes two terms of, or none, has no count: it is counted in the index.
    assert set(counted) == {"infections", "zurich", "children", "viruses", "absent"}
    for word, rows in counted.items():
        assert rows == lexical._matches(db, "chunks_fts", lexical._quoted(word), 100), word
    in_identity = term_counts.rows_with(db, "doc_terms_fts", "identity", ["children", "bats"])
    assert in_identity == {
        w: lexical._matches(db, "doc_terms_fts", f"identity : {lexical._quoted(w)}", 100)
        for w in ("children", "bats")} == {"children": 1, "bats": 1}


def _index(registry: Registry, doc_id: str) -> None:
    rows = _rows(doc_id)
    registry.finish_document(doc_id, status=INDEXED, chunks=len(rows), pages=len(rows),
                             empty_pages=0, problems=[], error=None,
                             path=PathEntry(f"/papers/{doc_id}.pdf", doc_id, 1, 1),
                             lexical_rows=rows)


def test_counts_are_not_trusted_before_they_are_made_or_after_an_older_writer(tmp_path,
                                                                            monkeypatch):
    registry = Registry(tmp_path / "registry.sqlite3")
    _index(registry, "flu")  # an index from before the counts
    db = registry._db
    assert not registry.term_counts_current()
    assert term_counts.rows_with(db, "chunks_fts", None, ["children"]) == {}
    assert lexical.anchored_expression(db, "children") == '"children"'  # counted in the index
    registry.rebuild_term_counts()
    assert registry.term_counts_current()
    assert term_counts.rows_with(db, "chunks_fts", None, ["children"]) == {"children": 3}
    # A writer that does not keep them (an older localrag) leaves them behind the documents.
    monkeypatch.setattr(term_counts, "add", lambda *args, **kwargs: None)
    _index(registry, "mers")
    assert not registry.term_counts_current()


def test_the_keyword_query_is_the_same_with_the_counts_as_counted_in_the_index(tmp_path,
                                                                             monkeypatch):
    with_counts = Registry(tmp_path / "a.sqlite3")
    with_counts.rebuild_term_counts()
    without = Registry(tmp_path / "b.sqlite3")
    docs = {f"d{i}": ("", [f"common words everywhere {'rare' if i == 3 else 'other'}"])
            for i in range(8)}
    for registry in (with_counts, without):
        for doc_id, (_, bodies) in docs.items():
            registry.replace_lexical(doc_id, [LexicalRow(StoredChunk(
                f"{doc_id}-0", doc_id, 0, 0, 0, len(bodies[0]), bodies[0]), "")])
    assert term_counts.complete(with_counts._db) and not term_counts.complete(without._db)
    monkeypatch.setattr(lexical, "ANCHOR_MAX_ROWS", 4)
    for question in ("common rare", "common words", "everywhere other rare", "absent"):
        expressions = [lexical.anchored_expression(r._db, question) for r in (with_counts, without)]
        assert expressions[0] == expressions[1], question
        hits = [[h.chunk.chunk_id for h in lexical.search(r._db, question, 5)]
                for r in (with_counts, without)]
        assert hits[0] == hits[1], question
    counted = []
    real = lexical._matches
    monkeypatch.setattr(lexical, "_matches", lambda *a, **k: counted.append(a) or real(*a, **k))
    lexical.anchored_expression(with_counts._db, "common words")
    assert not counted  # every word's rows were read from the counts


def test_words_in_most_chunks_of_a_large_index_are_not_scored(registry, monkeypatch):
    bodies = [f"virus infection study {'camel' if i < 2 else 'bat'} number{i}" for i in range(10)]
    registry.replace_lexical("d", [LexicalRow(StoredChunk(f"d-{i}", "d", i, i, 0, len(b), b), "")
                                   for i, b in enumerate(bodies)])
    db = registry._db
    monkeypatch.setattr(lexical, "ANCHOR_MAX_ROWS", 4)
    # As shipped, nothing under 50,000 chunks is left out.
    assert lexical.anchored_expression(db, "virus camel") == '("virus" OR "camel") AND ("camel")'
    monkeypatch.setattr(lexical, "COMMON_MIN_ROWS", 5)  # "a large index": over 5 rows and 5 %
    assert lexical.anchored_expression(db, "virus camel") == '"camel"'
    assert [h.chunk.chunk_id for h in lexical.search(db, "virus camel", 5)] == ["d-0", "d-1"]
    # Only words that common: no keyword search (BM25 cannot tell these chunks apart).
    assert lexical.anchored_expression(db, "virus infection study") is None
    assert lexical.search(db, "virus infection study", 5) == []
    # A scope is counted in the index, where nothing is left out.
    assert lexical.anchored_expression(db, "virus study", {"d"}) == (
        '("virus" OR "study") AND ("virus" AND "study")')


def test_a_name_s_evidence_is_kept_only_until_the_document_index_changes(registry):
    db = registry._db
    filings = {
        "amzn": ("Amazon.com Inc. annual report", ["Amazon sells. Amazon ships. Amazon Prime.",
                                                   "Amazon Web Services grew."]),
        "m": ("Microsoft Corporation annual report", ["Rivals include Amazon and Google."]),
        "n": ("Nvidia Corporation annual report", ["Customers include Amazon."]),
        "x": ("Intel Corporation annual report", ["Chips shipped to Amazon."]),
        **{f"f{i}": (f"Filler{i} Holdings annual report", ["Revenue was flat."]) for i in range(6)},
    }
    for doc_id, (identity, bodies) in filings.items():
        registry.replace_lexical(doc_id, [LexicalRow(StoredChunk(
            f"{doc_id}-{i}", doc_id, i, i, 0, len(b), b), identity) for i, b in enumerate(bodies)])
    assert lexical.identifying_terms(db, "Amazon revenue") == ["amazon"]
    assert lexical.identifying_terms(db, "Amazon revenue") == ["amazon"]  # kept: same answer
    # A retailer's filing that says "Amazon" more than Amazon's own: Amazon's cover no longer
    # names the documents that use the word most, and the kept answer must not say it does.
    text = "Amazon Amazon Amazon Amazon Amazon Amazon Amazon Amazon."
    registry.replace_lexical("w", [LexicalRow(StoredChunk("w-0", "w", 0, 0, 0, len(text), text),
                                              "Walmart Inc. annual report")])
    assert lexical.identifying_terms(db, "Amazon revenue") == []


def test_a_new_index_counts_from_the_start_and_repair_counts_an_older_one(tmp_path, embedder):
    from conftest import make_ingestor
    from pdfgen import prose, write_pdf

    data = tmp_path / "data"
    first = make_ingestor(data, embedder)
    [done] = first.ingest([write_pdf(tmp_path / "a.pdf", [prose("camel infections"),
                                                          prose("bat viruses")])])
    db = first.registry._db
    assert done.chunks and first.registry.term_counts_current()
    assert term_rows(db) == recounted_term_rows(db)  # kept by the ingest itself
    first.close()
    db.execute("DELETE FROM term_rows")  # as an index from before the counts
    second = make_ingestor(data, embedder)
    report = second.repair()
    assert report.counted_terms and report.empty  # counting is not a repair of damage
    assert second.registry.term_counts_current()
    assert term_rows(second.registry._db) == recounted_term_rows(second.registry._db)
    assert not second.repair().counted_terms
    second.close()


def test_the_cli_says_once_that_it_counted_an_older_index_s_words(tmp_path):
    import os
    import subprocess
    import sys

    from pdfgen import prose, write_pdf

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    pdf = write_pdf(tmp_path / "a.pdf", [prose("harbour dredging")])

    def ingest() -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "app.cli", "ingest", str(pdf)],
                              capture_output=True, text=True, timeout=240, env=env)

    assert ingest().returncode == 0
    registry = Registry(tmp_path / "data" / "registry.sqlite3")
    assert registry.term_counts_current()
    registry._db.execute("DELETE FROM term_rows")  # as an index from before the counts
    registry.close()
    upgraded, again = ingest(), ingest()
    assert upgraded.returncode == 0 and again.returncode == 0
    assert "keeps how many passages hold each word" in upgraded.stderr
    assert "keeps how many" not in again.stderr
    assert Registry(tmp_path / "data" / "registry.sqlite3").term_counts_current()
