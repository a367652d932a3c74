"""What a page of a financial filing is, which period a filing covers, and which periods and
statements a question asks about. Pure functions over text, no I/O.

A reader finds "capital expenditure in FY2019" on the cash-flow statement of the 2019 annual
report: a table page whose heading names the statement and whose columns name the years. The
passage alone carries none of that (a row "Purchases of property and equipment 1,577 1,373"),
so these facts are read once per page and per filing and kept beside the chunks.

The rules read the documents' own structure (statement titles, column headers, the cover's
"for the fiscal year ended ..."), never particular companies.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

from ingest.models import Chunk

CASH_FLOWS, INCOME, BALANCE, EQUITY = "cash flows", "income", "balance sheet", "equity"

# Statement titles as filings print them ("CONSOLIDATED STATEMENTS OF CASH FLOWS", "Consolidated
# Balance Sheets", "Statement of Financial Position", "Statements of Operations").
_TITLES = {
    CASH_FLOWS: re.compile(r"\bstatements?\s+of\s+(?:consolidated\s+)?cash\s*flows?\b"
                           r"|\bcash\s*flows?\s+statements?\b", re.I),
    INCOME: re.compile(r"\bstatements?\s+of\s+(?:consolidated\s+)?(?:income|operations|earnings)\b"
                       r"|\bincome\s+statements?\b", re.I),
    BALANCE: re.compile(r"\bbalance\s+sheets?\b|\bstatements?\s+of\s+(?:consolidated\s+)?"
                        r"financial\s+(?:position|condition)\b", re.I),
    EQUITY: re.compile(r"\bstatements?\s+of\s+(?:changes\s+in\s+)?(?:stockholders|shareholders|"
                       r"shareowners|share\s+owners)['’]?\s+(?:equity|deficit)", re.I),
}
# Words a reader adds for a statement: how questions name it.
_STATEMENT_WORDS = {
    CASH_FLOWS: "cash flow statement",
    INCOME: "income statement",
    BALANCE: "balance sheet statement of financial position",
    EQUITY: "statement of shareholders equity",
}
# The heading of a page: its first lines. A statement's title sits in the first two to four
# (after the company name, sometimes a "Table of Contents" link); six leave room. Some layouts
# come out of the PDF a word per line, so the head also runs to HEAD_MIN_CHARS.
HEAD_LINES, HEAD_MIN_CHARS, HEAD_MAX_CHARS = 6, 120, 300
# A statement page is a table: at least this many numbers (a statement has 40-200; an index
# page that lists the statements, or a page of notes that names one, has few).
MIN_TABLE_NUMBERS = 30
_NUMBER = re.compile(r"(?<![\w.,])\(?\$?\d[\d,]*(?:\.\d+)?\)?%?(?!\w)")
_YEAR = re.compile(r"(?<!\d)(19[89]\d|20[0-4]\d)(?!\d)")
_UNITS = re.compile(r"\b(?:in|dollars\s+in|amounts\s+in)\s+(millions|thousands|billions)\b"
                    r"|\(\s*(millions|thousands|billions)\b", re.I)
_NOT_A_HEADING = re.compile(r"^(?:table\s+of\s+contents|index|page\s+\d+|\W*\d+\W*)$", re.I)
_NOTES = re.compile(r"\bnotes\s+to\b", re.I)


@dataclass(frozen=True)
class PageFacts:
    """What a page is: its heading, the statement it carries (if any), its column years and
    units."""

    heading: str = ""
    statement: str | None = None
    years: tuple[int, ...] = ()
    units: str = ""

    def context(self) -> str:
        """The words a reader has in mind on this page, for the keyword index."""
        parts = [self.heading]
        if self.statement:
            parts.append(_STATEMENT_WORDS[self.statement])
        if self.years:
            parts.append(" ".join(str(y) for y in self.years))
        if self.units:
            parts.append(f"in {self.units}")
        return " | ".join(p for p in parts if p)


def _head(text: str) -> list[str]:
    found: list[str] = []
    chars = 0
    for line in text.splitlines():
        line = " ".join(line.split())
        if line:
            found.append(line)
            chars += len(line) + 1
            if (len(found) >= HEAD_LINES and chars >= HEAD_MIN_CHARS) or chars >= HEAD_MAX_CHARS:
                break
    return found


# A statement named inside a sentence ("... in the consolidated balance sheets") is a reference
# to it, not its title.
_REFERENCE = re.compile(r"\b(?:the|our|in|see|of|and|to)\s+(?:accompanying\s+)?"
                        r"(?:(?:condensed|consolidated|combined)\s+)*$", re.I)


def _titled(title: re.Pattern[str], head: str) -> bool:
    return any(not _REFERENCE.search(head[:m.start()]) for m in title.finditer(head))


def page_facts(text: str) -> PageFacts:
    """The heading, statement, column years and units of one page's (cleaned) text.

    A page is a statement when exactly one statement's title is in its first lines, no "notes
    to" is, and the page is a table of numbers; its years and units are read from the part
    above the first rows (the column headers).
    """
    head = _head(text)
    heading = next((line for line in head if 8 <= len(line) <= 90
                    and not _NOT_A_HEADING.match(line)
                    and sum(c.isalpha() for c in line) >= len(line) / 2), "")
    head_text = " ".join(head)
    kinds = [kind for kind, title in _TITLES.items() if _titled(title, head_text)]
    statement = None
    if len(kinds) == 1 and not _NOTES.search(head_text) \
            and len(_NUMBER.findall(text)) >= MIN_TABLE_NUMBERS:
        statement = kinds[0]
    top = text[:700]
    years = tuple(dict.fromkeys(int(y) for y in _YEAR.findall(top)))[:6] if statement else ()
    units_match = _UNITS.search(top)
    units = (units_match.group(1) or units_match.group(2)).lower() if units_match else ""
    return PageFacts(heading, statement, years, units)


def page_texts(chunks: Iterable[Chunk]) -> dict[int, str]:
    """Each page's text rebuilt from its chunks (they overlap, and record their offsets), so an
    index that kept only chunks reads the same page facts as the ingest that made it."""
    by_page: dict[int, list[Chunk]] = {}
    for chunk in chunks:
        by_page.setdefault(chunk.page, []).append(chunk)
    texts = {}
    for page, items in by_page.items():
        items.sort(key=lambda c: (c.char_start, c.char_end))
        text, end = "", 0
        for chunk in items:
            if chunk.char_end <= end:
                continue
            if chunk.char_start >= end:
                text += ("\n" if text else "") + chunk.text
            else:
                text += chunk.text[end - chunk.char_start:]
            end = chunk.char_end
        texts[page] = text
    return texts


# --- the filing's own period ------------------------------------------------------------------
_MONTHS = {m: i for i, m in enumerate(
    "january february march april may june july august september october november december"
    .split(), start=1)}
_DATE = r"([A-Z][a-z]{2,8})\.?\s+(\d{1,2})\s*,\s*((?:19|20)\d\d)"
_PERIOD_ENDED = re.compile(
    r"\bfor\s+the\s+(?:fiscal\s+)?(?:year|quarterly\s+period|quarter|period|fiscal\s+period)"
    r"\s+ended:?\s+" + _DATE, re.I)
_REPORT_DATE = re.compile(r"\bdate\s+of\s+report\b.{0,80}?" + _DATE, re.I | re.S)
_ENDED = re.compile(r"\bended:?\s+" + _DATE, re.I)
_FORM = re.compile(r"\bform\s+(10-k|10-q|8-k|20-f|40-f|6-k)\b", re.I)
_FISCAL_YEAR = re.compile(r"\bfiscal\s+(?:year\s+)?((?:19|20)\d\d)\b", re.I)
# The cover: the first pages a filing's identity is printed on.
COVER_PAGES = 2


@dataclass(frozen=True)
class FilingFacts:
    """A filing's identity as its cover states it: form, end of the period it reports on, and
    the periods that period goes by: (fiscal year, quarter), quarter 0 for the year as a whole."""

    form: str = ""
    period_end: date | None = None
    periods: tuple[tuple[int, int], ...] = ()

    def context(self) -> str:
        parts = [f"form {self.form}"] if self.form else []
        if self.period_end:
            parts.append(f"period ended {self.period_end:%B} {self.period_end.day}, "
                         f"{self.period_end.year}")
        for year, quarter in self.periods:
            parts.append(f"Q{quarter} {year}" if quarter else f"fiscal {year} FY{year}")
        return " ".join(parts)


def _to_date(month: str, day: str, year: str) -> date | None:
    number = _MONTHS.get(month.lower()) or next(
        (n for name, n in _MONTHS.items() if name.startswith(month.lower()[:3])), None)
    try:
        return date(int(year), number, int(day)) if number else None
    except ValueError:
        return None


_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4}
# "first quarter of fiscal 2023", "second fiscal quarter of 2023", "Q3 2022", "Q1 FY2024".
_QUARTER_OF = re.compile(
    r"\b(first|second|third|fourth)\s+(?:fiscal\s+)?quarter\s+(?:of\s+)?(?:fiscal\s+)?"
    r"(?:year\s+)?(?:FY\s?)?((?:19|20)\d\d)\b"
    r"|\bQ([1-4])\s+(?:of\s+)?(?:fiscal\s+)?(?:year\s+)?(?:FY\s?)?((?:19|20)\d\d)\b"
    r"|\b((?:19|20)\d\d)\s*Q([1-4])\b", re.I)


def _quarters(text: str) -> list[tuple[int, int]]:
    """(year, quarter) of every "first quarter of 2023" / "Q1 2023" / "2023 Q1" in ``text``."""
    found = []
    for m in _QUARTER_OF.finditer(text):
        if m.group(1):
            found.append((int(m.group(2)), _ORDINALS[m.group(1).lower()]))
        elif m.group(3):
            found.append((int(m.group(4)), int(m.group(3))))
        else:
            found.append((int(m.group(5)), int(m.group(6))))
    return found


_NAME_YEAR = re.compile(r"(?<!\d)((?:19|20)\d\d)(?!\d)")


def name_periods(file_name: str) -> list[tuple[int, int]]:
    """Periods a file's name gives ("AMCOR_2023Q2_10Q.pdf": 2023 and its Q2): the label its
    owner filed it under, which questions often repeat."""
    stem = re.sub(r"[_\-.]+", " ", file_name.rsplit(".", 1)[0])
    quarters = _quarters(stem)
    if quarters:
        return [(quarters[0][0], 0), quarters[0]]
    years = _NAME_YEAR.findall(stem)
    return [(int(years[0]), 0)] if years else []


def filing_facts(pages: dict[int, str], file_name: str = "") -> FilingFacts:
    """Form, period end and period labels of a filing, from its cover, its own words and its
    file name.

    The labels are the calendar year the period ends in, the fiscal year the document itself
    names the period by (a fiscal year that ends in January or February is "fiscal 2022" at
    some companies, "fiscal 2023" at others; a quarter ending in December can be the first of
    fiscal 2023), with the quarter where the filing reports one, and the file name's.
    """
    ordered = [pages[n] for n in sorted(pages)]
    cover = "\n".join(ordered[:COVER_PAGES])
    form_match = _FORM.search(cover)
    form = form_match.group(1).upper() if form_match else ""
    end = None
    for pattern in (_PERIOD_ENDED, _REPORT_DATE, _ENDED):
        match = pattern.search(cover)
        if match and (end := _to_date(*match.groups())):
            break
    years: dict[int, int] = {}
    quarters: dict[tuple[int, int], int] = {}
    for text in ordered:
        for year in _FISCAL_YEAR.findall(text):
            years[int(year)] = years.get(int(year), 0) + 1
        for period in _quarters(text):
            quarters[period] = quarters.get(period, 0) + 1
    periods: list[tuple[int, int]] = []
    if end is not None:
        periods.append((end.year, 0))
        if end.month <= 2 and years.get(end.year - 1, 0) > years.get(end.year, 0):
            periods.append((end.year - 1, 0))
        quarterly = form == "10-Q" or "quarterly period" in cover.lower()
        # The quarter the document names most among the fiscal years its period end allows.
        allowed = {end.year, end.year + 1} | ({end.year - 1} if end.month <= 2 else set())
        named = [p for p in quarters if p[0] in allowed]
        if quarterly and named:
            own = max(named, key=lambda p: (quarters[p], p))
            periods += [(own[0], 0), own]
    elif years:
        periods.append((max(years, key=lambda y: (years[y], y)), 0))
    periods += name_periods(file_name)
    return FilingFacts(form, end, tuple(dict.fromkeys(periods)))


# --- what a question asks ---------------------------------------------------------------------
# Years a question ties to a period ("FY2019", "fiscal 2023", "Q2 of FY2022", "2021 Q1", "as of
# 2022"): where a question has them, other years in it are about something else ("expect to pay
# in 2024").
_MARKED_YEAR = re.compile(
    r"\b(?:FY|fiscal\s+(?:year\s+)?)\s?'?((?:19|20)\d\d)\b|\bFY\s?'?(\d\d)\b"
    r"|\bQ[1-4]\s+(?:of\s+)?(?:FY\s?)?((?:19|20)\d\d)\b|\b((?:19|20)\d\d)\s+Q[1-4]\b"
    r"|\b(?:as\s+of|year\s+end(?:ed)?|end\s+of)\s+(?:FY\s?)?((?:19|20)\d\d)\b", re.I)
_ANY_YEAR = re.compile(r"(?<![\w-])((?:19[89]|20[0-4])\d)(?![\w-])")


def asked_years(question: str) -> tuple[int, ...]:
    """The years a question asks about, in order: the marked ones if any, else every year."""
    marked = []
    for match in _MARKED_YEAR.finditer(question):
        year = next(g for g in match.groups() if g)
        marked.append(int(year) if len(year) == 4 else 2000 + int(year))
    years = marked or [int(y) for y in _ANY_YEAR.findall(question)]
    return tuple(dict.fromkeys(years))


def target_year(question: str) -> int | None:
    """The fiscal year whose filing answers the question: the latest one asked about (a filing
    reports its year beside the one or two before it, so "FY2017 to FY2019" is in 2019's)."""
    years = asked_years(question)
    return max(years) if years else None


_LATEST = re.compile(r"\b(?:latest|most\s+recent)\b", re.I)


@dataclass(frozen=True)
class AskedPeriod:
    """The period whose filing answers a question: a fiscal year, a quarter of it (0: none
    asked) or, with no year, the latest filing ("the most recent 10-Q")."""

    year: int | None = None
    quarter: int = 0
    latest: bool = False

    def __bool__(self) -> bool:
        return self.year is not None or self.latest


def asked_period(question: str) -> AskedPeriod:
    quarters = _quarters(question)
    latest = bool(_LATEST.search(question))
    if quarters:
        year, quarter = max(quarters)
        return AskedPeriod(year, quarter, latest)
    return AskedPeriod(target_year(question), 0, latest)


# What a statement carries, in the words questions use for it: the statements' titles and the
# line items each is where a reader looks up.
_ASKED = {
    CASH_FLOWS: re.compile(
        r"\bcash\s*flows?\b|\bcapex\b|\bcapital\s+(?:expenditures?|spending)\b|\bpurchases?\s+of"
        r"\s+(?:property|pp&e)|\bfree\s+cash\b|\bdividends?\s+paid\b|\bcash\s+dividends?\b"
        r"|\bcash\s+from\s+operations\b|\boperating\s+activities\b|\brepurchases?\b"
        r"|\bdepreciation\b", re.I),
    INCOME: re.compile(
        r"\bincome\s+statements?\b|\bstatements?\s+of\s+(?:income|operations|earnings)\b"
        r"|\bp\s?&\s?l\b|\brevenues?\b|\bnet\s+sales\b|\bgross\s+(?:margin|profit)\b"
        r"|\boperating\s+(?:income|margin|profit)\b|\bnet\s+(?:income|earnings|profit)\b"
        r"|\beps\b|\bearnings\s+per\s+share\b|\bcost\s+of\s+(?:goods|sales|revenues?)\b"
        r"|\bcogs\b|\bebitd?a?\b|\binterest\s+expense\b|\btax\s+rate\b|\bincome\s+tax", re.I),
    BALANCE: re.compile(
        r"\bbalance\s+sheets?\b|\bfinancial\s+position\b|\btotal\s+assets\b|\binventor(?:y|ies)\b"
        r"|\baccounts\s+(?:payable|receivable)\b|\bcurrent\s+(?:assets|liabilities)\b"
        r"|\bworking\s+capital\b|\bquick\s+ratio\b|\bcurrent\s+ratio\b|\bpp\s?&\s?e\b"
        r"|\bproperty,?\s+plant\b|\btotal\s+(?:debt|liabilities)\b"
        r"|\b(?:stockholders|shareholders)['’]?\s+equity\b|\bcapital[-\s]intensive\b", re.I),
}


def asked_statements(question: str) -> tuple[str, ...]:
    """The statements whose pages hold what a question asks (named or implied by a line
    item: "capital expenditure" is read off the cash-flow statement)."""
    return tuple(kind for kind, words in _ASKED.items() if words.search(question))


def statement_pages(facts: dict[int, PageFacts]) -> dict[int, str]:
    """Page number -> statement, for the pages that carry one."""
    return {page: f.statement for page, f in facts.items() if f.statement}


@dataclass(frozen=True)
class DocumentFacts:
    """What the index keeps of a document's filing facts: statement pages, the periods it
    reports on ((year, quarter), 0 for the year) and the end of its period (ISO date or "")."""

    statements: dict[int, str] = field(default_factory=dict)
    periods: tuple[tuple[int, int], ...] = ()
    period_end: str = ""


@dataclass(frozen=True)
class ReadDocument:
    """A document as a reader sees it: each page's context words, and its filing facts."""

    page_context: dict[int, str]
    facts: DocumentFacts


def read_document(chunks: Sequence[Chunk], file_name: str = "") -> ReadDocument:
    """Page and filing facts of a document, from its chunks (the same at ingest and repair).

    Every page's context carries the filing's identity (form, period end, fiscal year) and the
    page's own heading, statement, column years and units.
    """
    texts = page_texts(chunks)
    pages = {page: page_facts(text) for page, text in texts.items()}
    filing = filing_facts(texts, file_name)
    identity = filing.context()
    context = {page: " | ".join(p for p in (identity, facts.context()) if p)
               for page, facts in pages.items()}
    end = filing.period_end.isoformat() if filing.period_end else ""
    return ReadDocument(context, DocumentFacts(statement_pages(pages), filing.periods, end))
