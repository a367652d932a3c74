"""Pure parts of retrieval and evaluation, on constructed rankings."""

from dataclasses import replace

import pytest

from app.eval.retrieval import bootstrap_interval, hit_at, recall_at, reciprocal_rank
from app.highlight import marked_spans
from app.retrieval import (
    Candidate,
    Retriever,
    document_boost,
    merge_by_page,
    phrase_ranking,
    reciprocal_rank_fusion,
)
from ingest import lexical
from ingest.lexical import LexicalRow, StoredChunk, match_expression, query_terms

GOLD = frozenset({("a.pdf", 3), ("b.pdf", 0)})


@pytest.mark.parametrize(("ranked", "k", "hit", "recall", "rr"), [
    ([("a.pdf", 3)], 4, 1.0, 0.5, 1.0),
    ([("x.pdf", 1), ("y.pdf", 2), ("b.pdf", 0), ("a.pdf", 3)], 4, 1.0, 1.0, 1 / 3),
    ([("x.pdf", 1)] * 4 + [("a.pdf", 3)], 4, 0.0, 0.0, 1 / 5),  # gold just beyond k
    ([("x.pdf", 1)] * 10 + [("a.pdf", 3)], 10, 0.0, 0.0, 0.0),  # beyond the MRR cutoff too
    ([], 4, 0.0, 0.0, 0.0),
    ([("a.pdf", 4), ("A.pdf", 3)], 4, 0.0, 0.0, 0.0),  # page and file must both match
])
def test_hit_recall_and_reciprocal_rank(ranked, k, hit, recall, rr):
    assert hit_at(ranked, GOLD, k) == hit
    assert recall_at(ranked, GOLD, k) == recall
    assert reciprocal_rank(ranked, GOLD, 10) == pytest.approx(rr)


def test_no_gold_scores_zero_everywhere():
    ranked = [("a.pdf", 3)]
    assert (hit_at(ranked, frozenset(), 4), recall_at(ranked, frozenset(), 4),
            reciprocal_rank(ranked, frozenset())) == (0.0, 0.0, 0.0)


def test_document_level_gold_matches_any_page():
    gold = frozenset({("a.pdf", None)})
    assert hit_at([("b.pdf", None), ("a.pdf", None)], gold, 2) == 1.0


def test_bootstrap_interval_brackets_the_mean_and_is_repeatable():
    values = [1.0] * 60 + [0.0] * 40
    low, high = bootstrap_interval(values)
    assert low < 0.6 < high and high - low < 0.25
    assert bootstrap_interval(values) == (low, high)
    assert bootstrap_interval([1.0] * 10) == (1.0, 1.0)


def test_rrf_rewards_agreement_and_respects_weights():
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["d", "b", "e"]])
    assert max(fused, key=fused.get) == "b"  # 2nd in both beats 1st in only one
    assert fused["b"] == pytest.approx(2 / 62) and fused["a"] == pytest.approx(1 / 61)
    lexical_heavy = reciprocal_rank_fusion([["a", "b"], ["b", "a"]], [0.5, 1.0])
    assert lexical_heavy["b"] > lexical_heavy["a"]


def _cand(cid, doc, page, index, start, end, text):
    return Candidate(cid, doc, page, index, start, end, text)


def test_chunks_of_a_page_become_one_passage_merged_by_offsets():
    page = "Alpha beta gamma. Delta epsilon zeta. Eta theta iota."
    a = _cand("d:0", "d", 2, 0, 0, 23, page[0:23])
    b = _cand("d:1", "d", 2, 1, 18, 37, page[18:37])      # overlaps a
    c = _cand("d:2", "d", 2, 2, 38, 53, page[38:53])      # next chunk, no overlap
    far = _cand("d:9", "d", 2, 9, 400, 420, "far away text")
    other_page = _cand("d:3", "d", 3, 3, 0, 10, "other page")
    merged = merge_by_page([(b, 0.9), (other_page, 0.8), (c, 0.5), (far, 0.4), (a, 0.3)])
    assert [(p.doc_id, p.page) for p in merged] == [("d", 2), ("d", 3)]
    first = merged[0]
    assert [(s.start, s.end) for s in first.segments] == [(0, 53), (400, 420)]
    assert first.text == page + " … far away text"
    assert first.score == 0.9
    assert set(first.chunk_ids) == {"d:0", "d:1", "d:2", "d:9"}


def test_a_page_keeps_only_its_best_segments():
    scattered = [(_cand(f"d:{i}", "d", 0, i * 10, i * 100, i * 100 + 20, f"seg{i}"), 1.0 - i / 10)
                 for i in range(6)]
    [passage] = merge_by_page(scattered)
    assert passage.text == "seg0 … seg1 … seg2"


def test_query_terms_and_match_expression_are_safe_for_fts():
    assert query_terms("What is the IFITM3 gene?") == ["ifitm3", "gene"]
    assert query_terms("the of and") == ["the", "of", "and"]  # nothing but stopwords: keep them
    assert match_expression('say "hi" OR NOT x*') == '"say" OR "hi" OR "x"'
    assert match_expression("¿?!") is None


def _text_candidate(chunk_id: str, text: str) -> Candidate:
    return Candidate(chunk_id, "d", 0, 0, 0, len(text), text)


def test_phrase_ranking_counts_the_question_s_word_pairs():
    ranked = phrase_ranking("Which capture antibodies were used?", [
        _text_candidate("none", "Antibodies were not captured here."),
        _text_candidate("one", "We used capture antibody kits."),
        _text_candidate("two", "Capture antibodies were coated; capture antibodies bind."),
        _text_candidate("stop", "Which were the ones?"),  # a pair of stopwords is no phrase
    ])
    assert [c.chunk_id for c in ranked] == ["two", "none", "one"]
    assert phrase_ranking("the of", [_text_candidate("x", "the of the of")]) == []


def test_document_boost_is_proportional_to_the_name_match():
    boost = document_boost({"apple-q3": 4.0, "apple-q2": 2.0}, weight=1.0, k=9)
    assert boost == {"apple-q3": pytest.approx(0.1), "apple-q2": pytest.approx(0.05)}
    assert document_boost({}, 1.0, 10) == {}


def _keyword_db(docs: dict[str, tuple[str, list[str]]]):
    import sqlite3

    db = sqlite3.connect(":memory:")
    db.executescript(lexical.SCHEMA)
    for doc_id, (identity, bodies) in docs.items():
        lexical.insert(db, [LexicalRow(StoredChunk(f"{doc_id}-{i}", doc_id, i, i, 0, len(body), body),
                                       identity) for i, body in enumerate(bodies)])
    return db


def test_identifying_terms_are_names_not_topics():
    db = _keyword_db({
        "a": ("Apple Inc. quarterly report", ["Revenue grew.", "The Company sells phones."]),
        "m": ("Microsoft Corporation quarterly report", ["Revenue grew.", "Cloud sales."]),
        "n": ("Nvidia Corporation quarterly report", ["Revenue grew.", "Apple is a customer."]),
        "x": ("Intel Corporation quarterly report", ["Revenue fell.", "Chips shipped."]),
    })
    # "apple": one cover, two documents' text (1/2 >= 0.5); "revenue": in no cover;
    # "corporation": three covers of four (> 0.5); "quarterly": every cover.
    assert lexical.identifying_terms(db, "Apple revenue, corporation quarterly") == ["apple"]
    assert set(lexical.named_documents(db, "Apple's revenue")) == {"a"}
    lexical.delete_document(db, "a")
    assert lexical.named_documents(db, "Apple's revenue") == {}  # "apple" is now only a topic


def test_a_company_others_mention_is_still_named_by_the_filings_that_use_it_most():
    db = _keyword_db({
        "amzn": ("Amazon.com Inc. annual report", ["Amazon sells. Amazon ships. Amazon Prime.",
                                                   "Amazon Web Services grew."]),
        "m": ("Microsoft Corporation annual report", ["Rivals include Amazon and Google."]),
        "n": ("Nvidia Corporation annual report", ["Customers include Amazon."]),
        "x": ("Intel Corporation annual report", ["Chips shipped to Amazon."]),
        "k": ("Kroger annual report", ["Groceries sold in stores."]),
        **{f"f{i}": (f"Filler{i} Holdings annual report", ["Revenue was flat."]) for i in range(5)},
    })
    # "amazon": one cover of ten, the text of four (share 0.25), but Amazon's own filing uses
    # it most; "groceries" is used most by Kroger's filing but is on no cover.
    assert lexical.identifying_terms(db, "Amazon groceries revenue") == ["amazon"]
    assert set(lexical.named_documents(db, "Amazon's revenue")) == {"amzn"}
    small = _keyword_db({d: docs for d, docs in [
        ("amzn", ("Amazon.com Inc.", ["Amazon sells. Amazon ships."])),
        ("m", ("Microsoft Corporation", ["Rivals include Amazon."])),
        ("n", ("Nvidia Corporation", ["Customers include Amazon."]))]})
    assert lexical.identifying_terms(small, "Amazon") == []  # three documents: weak evidence


def test_the_year_in_a_mixed_word_picks_the_named_company_s_filing_of_that_year():
    assert lexical.with_parts(["fy2019", "q3", "3m", "sales"]) == [
        "fy2019", "fy", "2019", "q3", "q", "3", "3m", "m", "sales"]
    db = _keyword_db({
        "3m-2018": ("3M 2018 10K | 3M COMPANY annual report", ["Capital spending rose."]),
        "3m-2022": ("3M 2022 10K | 3M COMPANY annual report", ["Capital spending fell."]),
        "pep-2022": ("PEPSICO 2022 10K | PepsiCo annual report", ["Snacks sold."]),
        "amd-2022": ("AMD 2022 10K | Advanced Micro Devices annual report", ["Chips sold."]),
    })
    named = lexical.named_documents(db, "What was 3M's FY2018 capital expenditure?")
    assert set(named) == {"3m-2018", "3m-2022"} and named["3m-2018"] > named["3m-2022"]


def test_topical_documents_rank_documents_by_their_whole_text():
    db = _keyword_db({
        "mers": ("Paper one", ["MERS spreads in camels.", "MERS incubation lasts days.",
                               "Incubation was measured."]),
        "flu": ("Paper two", ["Influenza incubation is short.", "Vaccines work."]),
        "bats": ("Paper three", ["Bats carry many viruses."]),
    })
    assert lexical.topical_documents(db, "incubation period of MERS", 10) == ["mers", "flu"]
    assert lexical.topical_documents(db, "incubation period of MERS", 1) == ["mers"]
    assert lexical.topical_documents(db, "zebra", 10) == []
    lexical.delete_document(db, "mers")
    assert lexical.topical_documents(db, "incubation period of MERS", 10) == ["flu"]


def test_the_topical_prior_lifts_the_chunks_of_the_best_matching_documents():
    retriever = Retriever(None, None, None, phrase_weight=0, document_weight=0, topic_weight=0.5)
    a, b = _text_candidate("a", "incubation five days"), _text_candidate("b", "incubation nine days")
    b = replace(b, doc_id="doc-b")
    # a is first by meaning, b first by keywords: a tie that the document's topic breaks.
    scores = dict((c.chunk_id, s) for c, s in retriever.fuse("q", [a, b], [b, a], {}, ["doc-b"]))
    assert scores["b"] - scores["a"] == pytest.approx(0.5 / 11)
    untouched = dict((c.chunk_id, s) for c, s in retriever.fuse("q", [a, b], [b, a], {}))
    assert untouched["a"] == pytest.approx(untouched["b"])


def test_keyword_query_is_anchored_on_rarer_words_in_a_large_index(monkeypatch):
    docs = {f"d{i}": ("", [f"common words everywhere {'rare' if i == 3 else 'other'}"])
            for i in range(8)}
    db = _keyword_db(docs)
    assert lexical.anchored_expression(db, "common rare") == '"common" OR "rare"'  # exact
    monkeypatch.setattr(lexical, "ANCHOR_MAX_ROWS", 4)
    assert lexical.anchored_expression(db, "common rare") == '("common" OR "rare") AND ("rare")'
    assert lexical.anchored_expression(db, "common words") == (
        '("common" OR "words") AND ("common" AND "words")')
    [hit] = lexical.search(db, "common rare", 5)[:1]
    assert hit.chunk.doc_id == "d3"


def test_marked_spans_mark_words_and_stems():
    spans = marked_spans("Vaccines vaccinated the patients; vaccine trial.", "vaccine trials")
    assert [p for p, hit in spans if hit] == ["Vaccines", "vaccinated", "vaccine", "trial"]
    assert "".join(p for p, _ in spans) == "Vaccines vaccinated the patients; vaccine trial."


def test_unknown_terms_are_the_question_words_no_chunk_contains():
    db = _keyword_db({
        "a": ("Antivirals in vitro", ["Favipiravir was tested in Vero cells.", "EC50 of 61.88."]),
    })
    assert lexical.unknown_terms(db, "What dose of molnupiravir was tested in 2021?") == [
        "dose", "molnupiravir"]
    assert lexical.unknown_terms(db, "Was favipiravir tested?") == []  # stems match: "tested"
    # One typo of a word the index holds is no unknown word; a different drug still is.
    assert lexical.unknown_terms(db, "Was favipiravri tested?") == []
    assert lexical.unknown_terms(db, "Was favipirarvir tested in cells?") == []
    assert lexical.unknown_terms(db, "Was remdesivir tested?") == ["remdesivir"]


def test_one_edit_away_covers_every_kind_of_typo():
    edits = lexical.one_edit_away("virus")
    assert {"vrius", "viru", "viruss", "varus"} <= edits and "virus" not in edits
    assert "vriuss" not in edits  # two typos


def test_a_spread_sample_takes_one_question_per_document_in_turn():
    from app.eval.retrieval import Question, spread_sample

    rows = [Question(f"{doc}{i}", f"q {doc}{i}", "a", frozenset({(f"{doc}.pdf", 0)}), False)
            for doc in "abcd" for i in range(5)]
    picked = spread_sample(rows, 8)
    assert len(picked) == 8
    documents = [min(q.gold)[0] for q in picked]
    assert sorted(documents[:4]) == ["a.pdf", "b.pdf", "c.pdf", "d.pdf"]  # every paper first
    assert spread_sample(rows, 8) == picked  # seeded: the same sample every run


def test_a_scoped_keyword_search_ranks_only_the_scope_s_chunks():
    db = _keyword_db({
        "loud": ("Budget notes", [f"Budget, budget and budget again, item {i}." for i in range(6)]),
        "quiet": ("Garden handbook", ["The garden budget is small.", "Compost needs turning."]),
    })
    # The library's top 3 are all the loud document's: a filter after the limit would leave
    # nothing of the quiet one.
    assert {h.chunk.doc_id for h in lexical.search(db, "budget", 3)} == {"loud"}
    assert [h.chunk.chunk_id for h in lexical.search(db, "budget", 3, {"quiet"})] == ["quiet-0"]
    assert lexical.search(db, "compost", 5, {"loud"}) == []  # a match elsewhere does not leak
    assert lexical.search(db, "budget", 5, set()) == []


def test_a_scoped_keyword_query_is_anchored_on_words_the_scope_holds(monkeypatch):
    docs = {f"d{i}": ("", [f"common words everywhere {'rare' if i == 3 else 'other'}"])
            for i in range(8)}
    db = _keyword_db(docs)
    monkeypatch.setattr(lexical, "ANCHOR_MAX_ROWS", 4)
    scope = {"d0", "d1", "d2", "d4", "d5"}  # as many chunks as the bound, none with "rare"
    assert lexical.anchored_expression(db, "common rare", scope) == (
        '("common" OR "rare") AND ("common")')
    assert {h.chunk.doc_id for h in lexical.search(db, "common rare", 10, scope)} == scope
    # Fewer chunks than the bound: the exact full query, without counting.
    assert lexical.anchored_expression(db, "common rare", {"d2", "d3"}) == '"common" OR "rare"'
    assert [h.chunk.doc_id for h in lexical.search(db, "common rare", 1, {"d2", "d3"})] == ["d3"]


def test_a_word_only_other_documents_use_is_unknown_within_a_scope():
    db = _keyword_db({
        "lab": ("Antivirals in vitro", ["Favipiravir was tested in Vero cells."]),
        "trial": ("Remdesivir trial", ["Remdesivir shortened recovery."]),
    })
    assert lexical.unknown_terms(db, "Was remdesivir tested?") == []
    assert lexical.unknown_terms(db, "Was remdesivir tested?", {"lab"}) == ["remdesivir"]
    assert lexical.unknown_terms(db, "Was remdesivir tested?", {"lab", "trial"}) == []
    # A typo of a word of the scope is still no unknown word; of another document's, it is.
    assert lexical.unknown_terms(db, "Was favipiravri tested?", {"lab"}) == []
    assert lexical.unknown_terms(db, "Was favipiravri tested?", {"trial"}) == [
        "favipiravri", "tested"]


def test_the_topical_prior_and_the_document_boost_keep_to_the_scope():
    from app.retrieval import SearchTimings

    db = _keyword_db({
        "mers": ("Paper one", ["MERS spreads in camels.", "MERS incubation lasts days."]),
        "flu": ("Paper two", ["Influenza incubation is short.", "Vaccines work."]),
        "bats": ("Paper three", ["Bats carry many viruses."]),
    })
    assert lexical.topical_documents(db, "incubation period of MERS", 10) == ["mers", "flu"]
    assert lexical.topical_documents(db, "incubation period of MERS", 10, {"flu", "bats"}) == [
        "flu"]

    class Names:
        def named_documents(self, text: str) -> dict[str, float]:
            return {"mers": 2.0, "flu": 1.0}

    retriever = Retriever(None, Names(), None)
    assert retriever.named("q", SearchTimings()) == {"mers": 2.0, "flu": 1.0}
    assert retriever.named("q", SearchTimings(), frozenset({"flu", "bats"})) == {"flu": 1.0}


def test_picks_become_the_ids_of_the_documents_they_choose():
    from app.owner.scope import scope_doc_ids
    from ingest.registry import Document

    def doc(doc_id: str, *paths: str, status: str = "indexed") -> Document:
        return Document(doc_id=doc_id, title="", size=1, pages=1, chunks=1, empty_pages=0,
                        status=status, error=None, problems=(), updated_at=0.0, paths=paths)

    docs = [doc("a1", "/lib/papers/a.pdf"), doc("b2", "/lib/papers/2023/b.pdf"),
            doc("c3", "/lib/papers-old/c.pdf", "/other/c.pdf"),
            doc("f4", "/lib/papers/broken.pdf", status="failed")]
    assert scope_doc_ids(docs, ["a1"]) == {"a1"}
    # A folder holds the documents under it at any depth; a sibling sharing its name's start,
    # or a document that failed, is not in it.
    assert scope_doc_ids(docs, ["/lib/papers"]) == {"a1", "b2"}
    assert scope_doc_ids(docs, ["folder:/lib/papers/2023/"]) == {"b2"}
    assert scope_doc_ids(docs, ["folder:/other", "a1"]) == {"a1", "c3"}  # any of its paths
    assert scope_doc_ids(docs, ["/other/c.pdf"]) == {"c3"}
    assert scope_doc_ids(docs, ["removed-id", "f4"]) == set()
    assert scope_doc_ids(docs, []) == set()
