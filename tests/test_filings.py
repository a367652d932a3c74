"""Financial filings: page and filing facts (pure), and the right period's statement page found
end to end through a real index (real PDFs, model, Chroma and FTS5)."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

import pytest
from conftest import make_ingestor
from pdfgen import prose, write_pdf

from app.retrieval import Retriever
from ingest import chunking
from ingest.chunking import chunk_pages, split_text
from ingest.filings import (
    BALANCE,
    CASH_FLOWS,
    INCOME,
    AskedPeriod,
    asked_period,
    asked_statements,
    filing_facts,
    name_periods,
    page_facts,
    page_texts,
    read_document,
)
from ingest.lexical import LexicalRow, StoredChunk, identity
from ingest.models import Page

COMPANY = "Harrowgate Instruments, Inc."
# Purchases of property, plant and equipment by fiscal year: each filing shows its year and the
# two before, as a 10-K does.
CAPEX = {2016: "1,204", 2017: "1,420", 2018: "1,373", 2019: "1,577", 2020: "1,690"}


def _cover(year: int) -> str:
    return (f"UNITED STATES SECURITIES AND EXCHANGE COMMISSION\nWashington, D.C. 20549\nFORM 10-K\n"
            f"ANNUAL REPORT PURSUANT TO SECTION 13 OR 15(d) OF THE SECURITIES EXCHANGE ACT OF 1934\n"
            f"For the fiscal year ended December 31, {year}\nCommission File No. 1-4417\n{COMPANY}\n"
            f"(Exact name of registrant as specified in its charter)\nDelaware 94-2404110")


def _discussion(year: int) -> str:
    """MD&A prose about the year: the words of the question's period, none of its figures."""
    return (f"Results of Operations\nIn fiscal {year} revenue grew on demand for calibration "
            "services, while investment in new plants continued. " + prose("liquidity", 6))


def _cash_flows(year: int) -> str:
    years = (year, year - 1, year - 2)

    def row(label: str, *figures: str) -> str:
        return f"{label} {' '.join(figures)}"

    rows = [
        row("Net income", "812", "745", "690"),
        row("Depreciation and amortization", "402", "388", "371"),
        row("Share-based compensation", "95", "88", "80"),
        row("Deferred income taxes", "(21)", "14", "(9)"),
        row("Changes in accounts receivable", "(64)", "(40)", "(52)"),
        row("Changes in inventories", "(33)", "(18)", "(27)"),
        row("Net cash provided by operating activities", "1,191", "1,177", "1,053"),
        row("Purchases of property, plant and equipment", *(f"({CAPEX[y]})" for y in years)),
        row("Purchases of short-term investments", "(909)", "(1,533)", "(1,071)"),
        row("Maturities of short-term investments", "1,012", "1,301", "998"),
        row("Net cash used for investing activities", "(570)", "(537)", "(414)"),
        row("Repurchases of common stock", "(300)", "(250)", "(200)"),
        row("Dividends paid", "(120)", "(112)", "(104)"),
        row("Net cash used for financing activities", "(420)", "(362)", "(304)"),
        row("Net change in cash and cash equivalents", "201", "278", "335"),
    ]
    header = (f"{COMPANY.upper()}\nCONSOLIDATED STATEMENTS OF CASH FLOWS\n(In millions)\n"
              f"Years Ended December 31, {years[0]} {years[1]} {years[2]}")
    return header + "\n" + "\n".join(rows)


def _filings(folder: Path, years=(2018, 2019, 2020)) -> dict[int, Path]:
    """Three 10-K-like filings of one company; file names say nothing of the year, so the
    period is read from each cover."""
    made = {}
    for letter, year in zip("abc", years, strict=False):
        made[year] = write_pdf(folder / f"harrowgate-annual-report-{letter}.pdf", [
            _cover(year), prose("governance", 10), _discussion(year), prose("markets", 10),
            _cash_flows(year), prose("employees", 10)])
    return made


# --- pure: pages ---------------------------------------------------------------------------------
def test_a_statement_page_knows_its_title_years_and_units():
    facts = page_facts(_cash_flows(2019))
    assert facts.statement == CASH_FLOWS
    assert facts.years == (2019, 2018, 2017)
    assert facts.units == "millions"
    context = facts.context()
    assert "cash flow statement" in context and "2019 2018 2017" in context


@pytest.mark.parametrize(("text", "why"), [
    ("Index to Financial Statements\nConsolidated Statements of Income 53\nConsolidated Balance "
     "Sheets 54\nConsolidated Statements of Cash Flows 56\n" + "Note 1 57\n" * 30,
     "an index that lists several statements"),
    ("NOTES TO CONSOLIDATED FINANCIAL STATEMENTS\nNote 4. Property\nAmounts on the consolidated "
     "balance sheets\n" + "Land 10 12\n" * 30, "a page of notes"),
    ("Liquidity\nAs shown in the consolidated statements of cash flows, cash from operations "
     "rose. " + prose("liquidity", 8), "prose that refers to a statement"),
    ("CONSOLIDATED BALANCE SHEETS\n(In millions)\n" + prose("assets", 8),
     "a title without a table"),
])
def test_pages_that_only_mention_a_statement_are_not_statement_pages(text, why):
    assert page_facts(text).statement is None, why


def test_a_title_broken_a_word_per_line_is_still_read():
    text = ("MGM\nRESORTS\nINTERNATIONAL\nAND\nSUBSIDIARIES\nCONSOLIDATED\nBALANCE\nSHEETS\n"
            "(In thousands, except share data)\nDecember\n31,\n2018\n2017\n"
            + "\n".join(f"Line item {i}\n{i},{i:03d} {i},{i + 1:03d}" for i in range(20)))
    facts = page_facts(text)
    assert facts.statement == BALANCE and facts.units == "thousands"


def test_page_texts_rebuild_each_page_from_overlapping_chunks():
    pages = [Page(0, prose("alpha", 12)), Page(1, _cash_flows(2019))]
    chunks = chunk_pages(pages, 200, 60)
    assert page_texts(chunks) == {0: pages[0].text, 1: pages[1].text}


# --- pure: the filing's period --------------------------------------------------------------------
def test_a_cover_gives_form_period_end_and_fiscal_year():
    facts = filing_facts({0: _cover(2019), 1: prose("governance")}, "harrowgate.pdf")
    assert (facts.form, facts.period_end, facts.periods) == ("10-K", date(2019, 12, 31),
                                                             ((2019, 0),))


@pytest.mark.parametrize(("words", "expected"), [
    # The document calls the year that ended on 28 January 2023 "fiscal 2022": both labels.
    ("Fiscal 2022 was a record year. In fiscal 2022 sales rose. Fiscal 2021 was weaker.",
     ((2023, 0), (2022, 0))),
    # It calls it fiscal 2023 itself: only that label.
    ("Fiscal 2023 was a record year. In fiscal 2023 sales rose. Fiscal 2022 was weaker.",
     ((2023, 0),)),
])
def test_a_year_ending_in_january_takes_the_label_the_document_uses(words, expected):
    cover = "FORM 10-K\nFor the fiscal year ended January 28, 2023\nBoxhill Stores, Inc."
    assert filing_facts({0: cover, 1: words}).periods == expected


def test_a_quarterly_report_takes_the_quarter_it_names_itself():
    cover = "FORM 10-Q\nFor the quarterly period ended December 31, 2022\nOrchard Computer Inc."
    words = "Results for the first quarter of fiscal 2023. " * 3 + "The fourth quarter of 2022."
    facts = filing_facts({0: cover, 1: words}, "orchard-report.pdf")
    assert facts.periods == ((2022, 0), (2023, 0), (2023, 1))


@pytest.mark.parametrize(("name", "expected"), [
    ("AMCOR_2023Q2_10Q.pdf", [(2023, 0), (2023, 2)]),
    ("2023 Q1 AAPL.pdf", [(2023, 0), (2023, 1)]),
    ("BOEING_2022_10K.pdf", [(2022, 0)]),
    ("minutes.pdf", []),
])
def test_a_file_name_gives_the_period_it_was_filed_under(name, expected):
    assert name_periods(name) == expected


# --- pure: what a question asks -----------------------------------------------------------------
@pytest.mark.parametrize(("question", "expected"), [
    ("What was capital expenditure in FY2019?", AskedPeriod(2019)),
    ("What is the FY2017 - FY2019 3 year average of capex?", AskedPeriod(2019)),
    ("Has the quick ratio improved between FY2023 and FY2022?", AskedPeriod(2023)),
    ("How did margins change between FY2015 and FY2017?", AskedPeriod(2017)),
    ("What was revenue in Q2 FY2024?", AskedPeriod(2024, 2)),
    ("Which segment had the lowest net revenue in 2021 Q1?", AskedPeriod(2021, 1)),
    ("Did net earnings increase in Q2 of FY2023 compared to Q2 of FY2022?", AskedPeriod(2023, 2)),
    ("Did VaR fall in the second fiscal quarter of 2023?", AskedPeriod(2023, 2)),
    # A marked year wins over a year the question mentions for something else.
    ("As of FY 2021, how much did it expect to pay its retirees in 2024?", AskedPeriod(2021)),
    ("What are the geographies it operates in as of 2022?", AskedPeriod(2022)),
    ("How did FX affect results in the most recent 10-Q?", AskedPeriod(latest=True)),
    ("What does the epithelial protein cause?", AskedPeriod()),
    ("How did COVID-19 spread in 2019-nCoV cases?", AskedPeriod()),
])
def test_the_period_a_question_asks_about(question, expected):
    assert asked_period(question) == expected


@pytest.mark.parametrize(("question", "expected"), [
    ("Based on the cash flow statement, what was free cash flow?", (CASH_FLOWS,)),
    ("What was capital expenditure in FY2019?", (CASH_FLOWS,)),
    ("Using the balance sheet, what were total assets?", (BALANCE,)),
    ("How many times did it sell its inventory?", (BALANCE,)),
    ("Does it have an improving gross margin profile?", (INCOME,)),
    ("What is the operating cash flow ratio (cash from operations / total current "
     "liabilities)?", (CASH_FLOWS, BALANCE)),
    ("Who are the primary customers?", ()),
])
def test_the_statements_a_question_names_or_implies(question, expected):
    assert asked_statements(question) == expected


def test_a_document_read_from_its_chunks_carries_page_and_filing_context():
    pages = [Page(0, _cover(2019)), Page(1, _discussion(2019)), Page(2, _cash_flows(2019))]
    read = read_document(chunk_pages(pages, 600, 100), "report.pdf")
    assert read.facts.statements == {2: CASH_FLOWS}
    assert read.facts.periods == ((2019, 0),) and read.facts.period_end == "2019-12-31"
    assert "FY2019" in read.page_context[1] and "cash flow statement" not in read.page_context[1]
    assert "cash flow statement" in read.page_context[2] and "in millions" in read.page_context[2]


# --- chunking keeps table rows whole --------------------------------------------------------------
def test_a_table_is_split_between_rows_and_every_chunk_starts_with_a_row_label():
    text = _cash_flows(2019)
    rows = text.split("\n")[4:]
    for size, overlap in ((200, 60), (250, 40), (300, 100)):
        spans = list(split_text(text, size, overlap))
        assert len(spans) > 2
        for start, _end in spans[1:]:
            assert text[start].isalpha(), (size, text[start:start + 30])
        for row in rows:  # every row lies whole in some chunk
            assert any(row in text[start:end] for start, end in spans), row


def test_prose_is_chunked_as_before(monkeypatch):
    """Rows are kept whole in tables only: prose (with a line or two ending in a figure) is cut
    exactly where it was before."""
    text = "\n".join(prose(topic, 6) + f" The budget was 1,{i}00" for i, topic in
                     enumerate(("alpha", "beta", "gamma", "delta")))
    spans = list(split_text(text, 200, 50))
    monkeypatch.setattr(chunking, "_tabular", lambda *_: False)
    assert spans == list(split_text(text, 200, 50))


# --- end to end: the right period's statement page --------------------------------------------------
@pytest.fixture
def filing_set(tmp_path, embedder):
    folder = tmp_path / "filings"
    made = _filings(folder)
    ingestor = make_ingestor(tmp_path / "data", embedder, chunk_size=250, chunk_overlap=60)
    ingestor.ingest([folder])
    yield ingestor, made
    ingestor.close()


@pytest.mark.parametrize("year", [2019, 2020, 2018])
def test_capital_expenditure_in_a_year_finds_that_year_s_cash_flow_page(filing_set, year):
    ingestor, made = filing_set
    question = f"What was Harrowgate Instruments' capital expenditure in FY{year}?"
    hits = Retriever(ingestor.store, ingestor.registry, ingestor.embedder).search(question, 4)
    assert (hits[0].file, hits[0].page) == (made[year].name, 4), [(h.file, h.page) for h in hits]
    assert f"({CAPEX[year]})" in hits[0].text
    assert {h.file for h in hits} == {made[year].name}  # no other year's filing among the four
    # Without the filing facts, the question's words alone leave other years' filings (their
    # cash-flow pages show this year as a column) among the four.
    plain = Retriever(ingestor.store, ingestor.registry, ingestor.embedder, period_weight=0,
                      statement_weight=0).search(question, 4)
    assert {h.file for h in plain} - {made[year].name}, [(h.file, h.page) for h in plain]


def test_a_row_split_from_its_header_is_found_with_the_header_s_words(filing_set):
    ingestor, made = filing_set
    db = sqlite3.connect(ingestor.registry.path)
    doc_id = ingestor.registry.find(str(made[2019]))[0].doc_id
    rows = db.execute("SELECT body, context FROM chunks WHERE doc_id=? AND page=4 ORDER BY idx",
                      (doc_id,)).fetchall()
    [(body, context)] = [r for r in rows if "Purchases of property" in r[0]]
    # The chunk boundary cut the row from its header...
    assert "CASH FLOWS" not in body and "2017" not in body
    assert f"Purchases of property, plant and equipment ({CAPEX[2019]})" in body  # ...not its label
    # ...but the row's keyword context carries the header: statement, years, units, filing.
    page_context = context.split("\n", 1)[1]
    for words in ("cash flow statement", "2019 2018 2017", "in millions", "form 10-K", "FY2019"):
        assert words in page_context
    retriever = Retriever(ingestor.store, ingestor.registry, ingestor.embedder)
    hits = retriever.search("purchases of property, plant and equipment in the 2019 cash flow "
                            "statement", 4)
    assert body in hits[0].text and hits[0].file == made[2019].name


def test_removing_a_filing_removes_its_facts(filing_set):
    ingestor, made = filing_set
    db = sqlite3.connect(ingestor.registry.path)
    assert db.execute("SELECT count(*) FROM statement_pages").fetchone()[0] == 3
    ingestor.remove(str(made[2018]))
    assert db.execute("SELECT count(*) FROM statement_pages").fetchone()[0] == 2
    assert {r[0] for r in db.execute("SELECT year FROM filing_periods")} == {2019, 2020}


class ReadsCounted:
    """A Chroma collection whose ``get`` calls are recorded."""

    def __init__(self, collection, reads: list) -> None:
        self._collection, self._reads = collection, reads

    def get(self, *args, **kwargs):
        self._reads.append(kwargs.get("where"))
        return self._collection.get(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._collection, name)


def test_an_index_from_before_gets_the_facts_by_repair_without_re_embedding(filing_set):
    ingestor, made = filing_set
    registry = ingestor.registry
    for path in made.values():  # as an index built before: document context only, no facts
        doc_id = registry.find(str(path))[0].doc_id
        rows = [LexicalRow(StoredChunk(*r[:7]), identity(r[7])) for r in sqlite3.connect(
            registry.path).execute("SELECT chunk_id, doc_id, page, idx, start, end, body, context"
                                   " FROM chunks WHERE doc_id=?", (doc_id,))]
        registry.replace_lexical(doc_id, rows)
    registry.set_meta("context_recipe", "title+name+opening1500")
    db = sqlite3.connect(registry.path)
    assert db.execute("SELECT count(*) FROM statement_pages").fetchone()[0] == 0
    ingestor.close()
    before = ingestor.embedder.texts
    reopened = make_ingestor(registry.path.parent, ingestor.embedder, 250, 60)
    reads = []  # the chunks come from the keyword rows: reading them from Chroma took 2/3 of
    # the upgrade of a 1M-chunk library (0.11 s a document)
    reopened.store._collection = ReadsCounted(reopened.store.collection, reads)
    report = reopened.repair()
    assert reads == []
    assert sorted(report.rebuilt_lexical) == sorted(p.name for p in made.values())
    assert report.new_context  # the CLI says what changed and what only a reindex gives
    assert ingestor.embedder.texts == before  # nothing embedded again
    assert db.execute("SELECT count(*) FROM statement_pages").fetchone()[0] == 3
    # Every row was rewritten, so the keyword index was merged (else searches slow down 7x).
    segments = db.execute("SELECT count(*) FROM chunks_fts_data").fetchone()[0]
    reopened.registry.optimize_lexical()
    assert db.execute("SELECT count(*) FROM chunks_fts_data").fetchone()[0] == segments
    retriever = Retriever(reopened.store, reopened.registry, reopened.embedder)
    hits = retriever.search("What was Harrowgate Instruments' capital expenditure in FY2020?", 4)
    assert (hits[0].file, hits[0].page) == (made[2020].name, 4)
    reopened.close()
