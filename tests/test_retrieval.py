"""Hybrid retrieval and evaluation end to end: real model, real Chroma, real FTS5."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from conftest import SHARED_EVAL, stored
from indexcheck import check_document_terms
from pdfgen import prose, write_pdf
from test_cli import _env, run

from app.retrieval import Retriever

TOPICS = ["cooling", "pumps", "valves", "wiring", "filters", "boilers", "fans", "pipes", "meters",
          "seals"]


def _parts_catalogue(folder: Path) -> tuple[Path, str]:
    """Twenty pages of maintenance prose, each naming one part code mid-passage: the code is a
    small share of its chunk, so meaning cannot find it and only the exact word can."""
    rng = random.Random(7)
    codes = [f"ZX-{rng.randrange(1000, 9999)}-{rng.choice('ABCDEFGH')}Q" for _ in range(20)]
    pages = [prose(TOPICS[i % 10], 4) + f" Part {codes[i]} replaced. " + prose(TOPICS[(i + 3) % 10], 3)
             for i in range(20)]
    return write_pdf(folder / "maintenance.pdf", pages), codes[17]


def _retriever(ingestor, **weights) -> Retriever:
    return Retriever(ingestor.store, ingestor.registry, ingestor.embedder, **weights)


def test_a_rare_identifier_is_found_by_hybrid_and_missed_by_dense_search(tmp_path, ingestor):
    pdf, code = _parts_catalogue(tmp_path)
    ingestor.ingest([pdf])
    question = f"When was part {code} replaced?"
    hybrid = _retriever(ingestor).search(question, 4)
    dense = _retriever(ingestor, lexical_weight=0, phrase_weight=0).search(question, 4)
    # Found among the k=4 passages the model gets; the default weights favour meaning (the
    # filings set), so an exact match need not be first, only present.
    [found] = [h for h in hybrid if h.page == 17]
    assert code in found.text and found.file == "maintenance.pdf" and found.lexical_rank == 1
    assert 17 not in [h.page for h in dense]


def test_paraphrase_is_found_by_meaning(tmp_path, ingestor):
    write_pdf(tmp_path / "zoo.pdf", [
        prose("budget", 6),
        "The giraffes were moved to a larger enclosure because they kept hitting their heads on "
        "the roof of the old barn.",
        prose("roads", 6),
    ])
    ingestor.ingest([tmp_path / "zoo.pdf"])
    [hit] = _retriever(ingestor).search("Why did the tall animals get a new home?", 1)
    assert hit.page == 1


def _dredging_reports(folder: Path) -> None:
    """Two reports on the same dredging work; only the river one names its contractor and
    permit."""
    write_pdf(folder / "harbor.pdf", [
        prose("dredging", 6),
        "The harbor dredging of the north channel costs 4.7 million euros and starts in March. "
        + prose("harbor dredging", 4),
    ], title="Harbor Authority report")
    write_pdf(folder / "river.pdf", [
        prose("dredging", 6),
        "The river dredging was done by Zarnowski Marine under permit KV-9932-RR for 2.1 million "
        "euros. " + prose("river dredging", 4),
    ], title="River Board report")


def test_a_scoped_search_finds_only_the_chosen_documents(tmp_path, ingestor):
    _dredging_reports(tmp_path / "docs")
    ingestor.ingest([tmp_path / "docs"])
    ids = {d.name: d.doc_id for d in ingestor.registry.documents()}
    harbor, river = ids["harbor.pdf"], ids["river.pdf"]
    retriever = _retriever(ingestor)
    cost = "How much did the dredging cost?"
    assert {h.doc_id for h in retriever.search(cost, 4)} == {harbor, river}
    scoped = retriever.search(cost, 4, doc_ids={harbor})
    assert len(scoped) == 2 and {h.file for h in scoped} == {"harbor.pdf"}  # both its pages
    # The permit is only in the river report, found there by its words; in the harbor report
    # no chunk holds them, so keyword search adds nothing and nothing of the river leaks in.
    permit = "Which permit is KV-9932-RR?"
    assert any(h.doc_id == river and h.lexical_rank == 1 for h in retriever.search(permit, 4))
    scoped = retriever.search(permit, 4, doc_ids=[harbor])
    assert scoped and all(h.doc_id == harbor and h.lexical_rank is None for h in scoped)
    # The question names the river report: its boost is dropped with it.
    named = "What did the River Board's dredging cost?"
    assert list(ingestor.registry.named_documents(named)) == [river]
    assert {h.doc_id for h in retriever.search(named, 4, doc_ids={harbor})} == {harbor}
    assert retriever.search(cost, 4, doc_ids=set()) == []
    # The contractor is a word of the library, but not of the harbor report.
    contractor = "Did Zarnowski do the dredging?"
    assert retriever.unknown_terms(contractor) == []
    assert retriever.unknown_terms(contractor, doc_ids={harbor}) == ["zarnowski"]
    assert retriever.unknown_terms(contractor, doc_ids={river}) == []


def _lexical_matches_vectors(ingestor) -> None:
    assert sorted(ingestor.registry.lexical_chunk_ids()) == sorted(stored(ingestor)["ids"])
    check_document_terms(ingestor.registry)


COMPANIES = ["Quillfeather Robotics", "Borealis Freight", "Cygnus Textiles", "Dunmore Ceramics",
             "Estuary Foods", "Falkirk Optics"]


def _filings(folder: Path) -> None:
    """Six quarterly filings that name their company only on the cover page, as real ones do;
    every other page says "the Company". The five others word their revenue page like the
    question; Quillfeather's uses other words."""
    for i, company in enumerate(COMPANIES):
        cover = (f"{company.upper()} INC. Quarterly report pursuant to section 13 for the period "
                 f"ended June 30, 2023. {company} Inc. Commission file number 001-{4000 + i}.")
        if i == 0:
            revenue = ("Sales for the three months grew by 7 percent to $880 million, led by "
                       "warehouse automation orders from logistics customers.")
        else:
            revenue = (f"How much did net revenue increase? Net revenue increased {10 + i} percent "
                       f"to ${2 + i}.1 billion in the quarter, the Company reported.")
        write_pdf(folder / f"filing-{i + 1}.pdf",
                  [cover, prose("governance", 5), revenue + " " + prose("liquidity", 3)])


def test_a_question_naming_a_company_finds_that_company_s_filing(tmp_path, ingestor):
    _filings(tmp_path)
    ingestor.ingest([tmp_path])
    question = "How much did Quillfeather Robotics' net revenue increase in the quarter?"
    boosted = _retriever(ingestor).search(question, 4)
    plain = _retriever(ingestor, document_weight=0).search(question, 4)
    revenue_pages = [h.file for h in boosted if h.page == 2]
    assert revenue_pages[0] == "filing-1.pdf", [(h.file, h.page) for h in boosted]
    # Without knowing which filing the question names, the other companies' pages win.
    assert all(h.file != "filing-1.pdf" or h.page != 2 for h in plain[:2])
    named = ingestor.registry.named_documents(question)
    assert [ingestor.registry.document(d).name for d in named] == ["filing-1.pdf"]


def _outbreak_reports(folder: Path) -> None:
    """Reports whose finding pages word a result alike without saying what it is about. Only
    report A is about the virus the question names; six surveillance reports are about viruses
    in general; report B, about freight, words its finding closest to the question. No cover
    names the virus, so the question names no document."""
    cover = prose("governance", 24)
    write_pdf(folder / "report-a.pdf", [
        cover, *(prose("zebra virus", 8) for _ in range(3)),
        "The incubation period was five days in most patients. " + prose("logistics", 4)])
    write_pdf(folder / "report-b.pdf", [
        cover, *(prose("rail freight", 8) for _ in range(3)),
        "The incubation period of the virus was nine days in most patients. "
        + prose("logistics", 4)])
    for i in range(6):
        write_pdf(folder / f"surveillance-{i}.pdf",
                  [cover, prose(f"virus incubation period surveillance {i}", 8)])


def test_the_document_a_question_is_about_lifts_its_passage_over_a_closer_worded_one(tmp_path, ingestor):
    _outbreak_reports(tmp_path)
    ingestor.ingest([tmp_path])
    question = "What is the incubation period of the zebra virus?"
    assert ingestor.registry.named_documents(question) == {}
    by_topic = [ingestor.registry.document(d).name
                for d in ingestor.registry.topical_documents(question, 10)]
    assert (len(by_topic), by_topic[0], by_topic[-1]) == (8, "report-a.pdf", "report-b.pdf")

    def findings(retriever: Retriever) -> list[str]:
        return [h.file for h in retriever.search(question, 20) if h.page == 4]

    # B's finding is worded closer to the question ("of the virus"). A is first of the eight
    # documents by topic, B last: at weight 1 that prior outweighs the wording; at the default
    # 0.5 (chosen on the dev sets) B still wins here by 0.01 of fused score.
    assert findings(_retriever(ingestor, topic_weight=1.0)) == ["report-a.pdf", "report-b.pdf"]
    assert findings(_retriever(ingestor, topic_weight=0)) == ["report-b.pdf", "report-a.pdf"]


def test_removing_a_document_removes_it_from_the_document_index(tmp_path, ingestor):
    _filings(tmp_path)
    ingestor.ingest([tmp_path])
    assert ingestor.registry.named_documents("Cygnus Textiles revenue")
    ingestor.remove(str(tmp_path / "filing-3.pdf"))
    check_document_terms(ingestor.registry)
    assert ingestor.registry.named_documents("Cygnus Textiles revenue") == {}
    write_pdf(tmp_path / "filing-2.pdf", ["Borealis Shipping Ltd. annual report.", prose("ships")])
    ingestor.ingest([tmp_path / "filing-2.pdf"])  # an edit replaces the document's terms
    check_document_terms(ingestor.registry)
    [doc_id] = ingestor.registry.named_documents("Borealis Shipping")
    assert ingestor.registry.document(doc_id).name == "filing-2.pdf"
    assert ingestor.registry.named_documents("Freight") == {}  # the old cover's words are gone


def test_lexical_and_vector_indexes_hold_the_same_chunks_through_changes(tmp_path, ingestor):
    a = write_pdf(tmp_path / "a.pdf", [prose("alpha"), prose("beta")])
    b = write_pdf(tmp_path / "b.pdf", [prose("gamma")])
    ingestor.ingest([tmp_path])
    _lexical_matches_vectors(ingestor)
    write_pdf(a, ["Completely new text about quokkas. " + prose("delta")])
    ingestor.ingest([a])
    _lexical_matches_vectors(ingestor)
    assert not ingestor.registry.lexical_search("alpha", 10)
    ingestor.remove(str(b))
    _lexical_matches_vectors(ingestor)
    assert [h.page for h in _retriever(ingestor).search("quokkas", 4)] == [0]


def test_a_missing_keyword_index_is_rebuilt_by_repair(tmp_path, ingestor):
    ingestor.ingest([write_pdf(tmp_path / "a.pdf", [prose("rebuild")])])
    [doc] = ingestor.registry.documents()
    ingestor.registry.replace_lexical(doc.doc_id, [])
    report = ingestor.repair()
    assert report.rebuilt_lexical == ["a.pdf"]
    _lexical_matches_vectors(ingestor)


def test_search_command_marks_matches_and_gives_json(tmp_path):
    pdf, code = _parts_catalogue(tmp_path / "docs")
    assert run("ingest", str(pdf)).returncode == 0
    out = run("search", f"part {code}", "-k", "2")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("1. maintenance.pdf p.18")
    assert f"[{code.split('-')[1]}]" in out.stdout  # matched words are marked
    rows = [json.loads(line) for line in run("search", "--json", code).stdout.splitlines()]
    assert rows[0]["page"] == 17 and rows[0]["page_label"] == 18 and code in rows[0]["text"]


def test_eval_command_scores_hand_checked_questions(tmp_path):
    docs = tmp_path / "set"
    pdf, code = _parts_catalogue(docs / "pdfs")
    write_pdf(docs / "pdfs" / "zoo.pdf", [prose("budget", 6), "Giraffes moved to a new barn."])
    questions = [
        {"id": "q1", "question": f"When was part {code} replaced?", "answer": "",
         "evidence": [{"source_file": "pdfs/maintenance.pdf", "page": 17}]},
        {"id": "q2", "question": "Where did the giraffes move?", "answer": "a new barn",
         "evidence": [{"source_file": "pdfs/zoo.pdf", "page": 1}]},
        # Gold on a page that does not exist: never found, so hit and MRR are 0 for it.
        {"id": "q3", "question": "Where did the giraffes move?", "answer": "",
         "evidence": [{"source_file": "pdfs/zoo.pdf", "page": 7}]},
        {"id": "q4", "question": "What is discussed here?", "answer": "", "context_dependent": True,
         "evidence": [{"source_file": "pdfs/zoo.pdf", "page": 0}]},
        {"id": "q5", "question": "Which file has giraffes?", "answer": "",
         "evidence": [{"source_file": "pdfs/zoo.pdf", "page": None}]},
    ]
    qfile = docs / "questions.jsonl"
    qfile.write_text("".join(json.dumps(q) + "\n" for q in questions))
    # Keyword-heavy fusion puts every gold page here at rank 1, so the expected metrics are exact.
    out = run("eval", str(qfile), "-k", "4", "--out", str(tmp_path / "res.jsonl"),
              env=_env(LOCALRAG_LEXICAL_WEIGHT="1.5", LOCALRAG_PHRASE_WEIGHT="0.5", LOCALRAG_RRF_K="10"))
    assert out.returncode == 0, out.stderr
    summary = json.loads((tmp_path / "res.summary.json").read_text())["localrag"]
    assert (summary["questions"], summary["scored"]) == (5, 4)
    assert summary["hit@4"]["mean"] == pytest.approx(3 / 4)
    assert summary["mrr@10"]["mean"] == pytest.approx(3 / 4)  # q1, q2, q5 at rank 1
    records = [json.loads(line) for line in (tmp_path / "res.jsonl").read_text().splitlines()]
    assert [r["id"] for r in records] == ["q1", "q2", "q3", "q4", "q5"]
    assert records[0]["hits"][0] == {"file": "maintenance.pdf", "page": 17,
                                     "score": records[0]["hits"][0]["score"]}
    assert "metrics" not in records[3] and records[4]["metrics"]["hit@4"] == 1.0
    assert "hit@4" in out.stdout and "0.750" in out.stdout


COVID = SHARED_EVAL / "covidqa"


@pytest.mark.skipif(not COVID.is_dir(), reason="shared evaluation data not present")
def test_eval_on_a_real_subset_beats_the_tutorial_pipeline(tmp_path):
    names = ["covid_2642.pdf", "covid_2634.pdf", "covid_1671.pdf"]  # 122 questions, 12 pages
    (tmp_path / "pdfs").mkdir()
    for name in names:
        (tmp_path / "pdfs" / name).symlink_to(COVID / "pdfs" / name)
    rows = [json.loads(line) for line in (COVID / "questions_dev.jsonl").open()]
    subset = [r for r in rows if Path(r["source_file"]).name in names]
    (tmp_path / "q.jsonl").write_text("".join(json.dumps(r) + "\n" for r in subset))
    # Scored at k = 4, the depth the project's retrieval figures use (the chain's default is 3).
    out = run("eval", str(tmp_path / "q.jsonl"), "-k", "4", "--compare-baseline", timeout=600)
    assert out.returncode == 0, out.stderr
    summary_file = next((tmp_path / "data" / "eval").glob("*/results.summary.json"))
    summaries = json.loads(summary_file.read_text())
    ours, tutorial = summaries["localrag"]["hit@4"]["mean"], summaries["tutorial"]["hit@4"]["mean"]
    assert summaries["localrag"]["scored"] == len([r for r in subset
                                                   if not r.get("context_dependent")]) > 20
    assert ours >= tutorial + 0.10, (ours, tutorial)


def test_eval_rejects_a_file_that_is_not_questions(tmp_path):
    bad = tmp_path / "q.jsonl"
    bad.write_text('{"no": "fields"}\n')
    out = run("eval", str(bad), "--docs", str(tmp_path))
    assert out.returncode == 1
    assert "q.jsonl:1: not a question row" in out.stderr
    assert "Traceback" not in out.stderr
