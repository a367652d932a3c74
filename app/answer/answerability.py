"""Answerability before generation: do the retrieved passages contain what the question names?

Similarity alone lets a near-topic question through: a question about a guideline dose of a drug
the papers mention (but never dose) finds those papers at similarity 0.5, far above any usable
threshold. What gives it away is that a specific term of the question (a year, a number, a name,
an identifier) is in none of the passages. The model is not asked then: it would answer from its
own knowledge and cite a real page. Pure functions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from app.answer.terms import names_in, normalised, numbers_in
from ingest.lexical import TYPO_MIN_CHARS, one_edit_away

# Words that look like names in a question but name nothing the documents must contain.
_QUESTION_WORDS = frozenset(
    "what which who whom whose when where why how is are was were do does did can could should "
    "would will according based please list name give describe explain tell summarise summarize "
    "compare".split()
)
# Fiscal-year style terms: "FY2023", "FY23", "Q2", "1H2022" name a period, matched by its year.
_PERIOD = re.compile(r"^(?:fy|q[1-4]|[12]h|h[12])[-']?(\d{2,4})$|^(?:q[1-4]|[12]h|h[12])$", re.I)


def question_terms(question: str) -> list[str]:
    """The question's specific terms: numbers (years included) and names, acronyms and
    identifiers, as written (acronyms keep their case)."""
    terms: list[str] = []
    for number in sorted(numbers_in(question)):
        if len(number) >= 2 or number not in {"1", "2", "3", "4", "5", "6", "7", "8", "9"}:
            terms.append(number)
    words = {w.strip(".,;:?!()\"'") for w in question.split()}
    for name in sorted({n.strip(".,;:?!()[]\"'") for n in names_in(question)}):
        upper = next((w for w in words if w.lower() == name and w.isupper() and len(w) >= 2), None)
        if (name in _QUESTION_WORDS and upper is None) or name.isdigit():
            continue
        if _PERIOD.match(name):
            year = _PERIOD.match(name)
            if year and year.group(1):
                digits = year.group(1)
                terms.append(digits if len(digits) == 4 else "20" + digits)
            continue
        terms.append(upper or name)
    return list(dict.fromkeys(terms))


# Shortest name prefix that still has to match: "Canadian" is found by "Canada", "Alzheimers"
# by "Alzheimer's"; a name of five letters or fewer must match whole.
MIN_NAME_PREFIX = 5
NAME_SUFFIX_SLACK = 3


def _name_pattern(term: str) -> str:
    """A term matched with hyphens and spaces optional between its parts (COVID19, COVID-19,
    COVID -19) and, for a long plain word, by its first letters (derived forms)."""
    parts = re.findall(r"[a-z]+|\d+|[^a-z\d\s\-‐-―]", normalised(term))
    if len(parts) == 1 and parts[0].isalpha() and len(parts[0]) > MIN_NAME_PREFIX:
        parts[0] = parts[0][: max(MIN_NAME_PREFIX, len(parts[0]) - NAME_SUFFIX_SLACK)]
    return r"(?<![a-z\d])" + r"[\s-]?".join(re.escape(p) for p in parts)


def _present(term: str, haystack: str, raw: str, numbers: set[str]) -> bool:
    if re.fullmatch(r"\d+(?:\.\d+)?", term):
        # As a number, or as the digits of a name (the "19" of "COVID-19").
        return term in numbers or re.search(r"(?<![\d.])" + re.escape(term) + r"(?![\d])",
                                            raw) is not None
    if term.isalpha() and term.isupper() and len(term) <= 5:
        # A short acronym keeps its case: "WHO" must not match the word "who"; written in
        # capitals it still finds a mixed-case one ("HCOV" finds "HCoV", not "Who").
        pattern = r"(?<![A-Za-z])" + re.escape(term) + r"s?(?![A-Za-z])"
        return any(found.group(0) == term or any(ch.isupper() for ch in found.group(0)[1:])
                   for found in re.finditer(pattern, raw, re.IGNORECASE))
    if re.search(_name_pattern(term), haystack) is not None:
        return True
    # A long name with one typo ("Clodstridium") names a word the passages hold.
    word = term.lower()
    return len(word) >= TYPO_MIN_CHARS and word.isalpha() and word.isascii() and bool(
        one_edit_away(word) & set(re.findall(r"[a-z]+", haystack)))


def missing_question_terms(question: str, passages: Sequence[str]) -> list[str]:
    """The question's specific terms that none of ``passages`` contains."""
    raw = "\n".join(passages)
    haystack = normalised(raw)
    numbers = numbers_in(raw)
    return [t for t in question_terms(question) if not _present(t, haystack, raw, numbers)]
