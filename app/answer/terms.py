"""Words and terms of a sentence, as the claim and answerability checks compare them: content
stems, canonical numbers, and names (capitalised words, acronyms, identifiers). Pure functions."""

from __future__ import annotations

import re

_STOPWORDS = frozenset(
    "a an and are as at be but by for from has have how i in is it its of on or that the this to "
    "was were what when where which who whom why will with did do does can could should would "
    "there their they them these those than then so such into about also been being our your you "
    "we he she his her not no yes may might must shall more most less many much some any each "
    "other both all only very over under between after before during while within without per "
    "based according source sources document documents mentioned states stated shows shown "
    "described provided given said says".split()
)
_NUMBER_WORDS = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty".split())}
# Dates are checked by their numbers; "January" or "Jan" is no name to find.
_MONTHS = frozenset("january february march april may june july august september october "
                    "november december jan feb mar apr jun jul aug sep sept oct nov dec".split())
_WORD = re.compile(r"[A-Za-z][\w\-']*|\d[\d,]*(?:\.\d+)?")
# A number, but not the digits of a name like COVID-19 or a version like 2.1.3.
_NUMBER = re.compile(r"(?<![A-Za-z]-)(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?(?![\d])")
_IDENTIFIER = re.compile(r"^(?:--?[\w-]+|\w+(?:[._:/]\w+)+\(?\)?|[a-z]+[A-Z]\w*|\w*_\w+)$")


def stem(word: str) -> str:
    """A crude stem (the first six letters), enough to match "infected" with "infection"."""
    lower = word.lower().strip("'-")
    return _NUMBER_WORDS.get(lower, lower[:6])


def content_stems(text: str) -> set[str]:
    """Stems of the words that carry content (no stopwords, no one- and two-letter words)."""
    out = set()
    for word in _WORD.findall(text):
        lower = word.lower()
        if word[0].isdigit():
            continue
        if lower in _STOPWORDS or len(lower) < 3:
            continue
        out.add(stem(lower))
    return out


def numbers_in(text: str) -> set[str]:
    """Numbers as canonical strings: thousands separators gone, trailing decimal zeros gone;
    small number words count as their digits."""
    found = set()
    for match in _NUMBER.finditer(text):
        whole = match.group(1).replace(",", "")
        decimals = (match.group(2) or "").rstrip("0")
        found.add(f"{int(whole)}.{decimals}" if decimals else str(int(whole)))
    for word in re.findall(r"[A-Za-z]+", text):
        if word.lower() in _NUMBER_WORDS:
            found.add(_NUMBER_WORDS[word.lower()])
    return found


def number_matches(claimed: str, available: set[str]) -> bool:
    """Equal, or the source's figure rounded to the claim's decimals (1.577 -> "1.58")."""
    if claimed in available:
        return True
    if "." not in claimed:
        return False
    decimals = len(claimed.split(".")[1])
    value = float(claimed)
    for other in available:
        try:
            if round(float(other), decimals) == value:
                return True
        except ValueError:
            continue
    return False


def names_in(text: str) -> set[str]:
    """Names, acronyms and identifiers: capitalised words not opening a sentence, words with
    capitals or digits inside (SARS-CoV-2, H1N1, FY2023), code identifiers (snake_case, dotted.name,
    --flag). Lower-cased for matching."""
    found = set()
    for sentence in re.split(r"(?<=[.!?:;])\s+|\n", text):
        words = re.findall(r"--?[\w-]+|[\w][\w.\-:/]*[\w)]|\w", sentence)
        for position, raw in enumerate(words):
            word = raw.strip(".:/-")
            if len(word) < 2 or word.lower() in _MONTHS \
                    or (word.lower() in _STOPWORDS and not word.isupper()):
                continue
            inner_capital = any(ch.isupper() for ch in word[1:])
            has_digit = any(ch.isdigit() for ch in word) and any(ch.isalpha() for ch in word)
            capitalised = word[0].isupper() and position > 0
            if _IDENTIFIER.match(raw) or inner_capital or has_digit or capitalised:
                found.add(word.lower())
    return found


def normalised(text: str) -> str:
    return " ".join(re.sub(r"[‐-―−]", "-", text.lower()).split())


def missing_terms(claim: str, evidence: str, question: str = "") -> list[str]:
    """The claim's numbers and names found neither in ``evidence`` nor in the question."""
    available = numbers_in(evidence) | numbers_in(question)
    missing = [n for n in sorted(numbers_in(claim)) if not number_matches(n, available)]
    haystack = normalised(evidence + " \n " + question)
    for name in sorted(names_in(claim)):
        if stem(name) in _NUMBER_WORDS.values():
            continue
        if name.isdigit() or re.fullmatch(r"[\d.,]+", name):
            continue
        pattern = r"(?<!\w)" + re.escape(normalised(name)).replace(r"\-", r"[\s-]?") + r"(?!\w)"
        if not re.search(pattern, haystack):
            # A plural or possessive of a name the source has ("NSAIDs", "Moderna's").
            base = re.sub(r"(?:'s|s)$", "", name)
            if base == name or not re.search(r"(?<!\w)" + re.escape(normalised(base)), haystack):
                missing.append(name)
    return missing


def coverage(claim: str, evidence: str, question: str = "") -> float:
    """Share of the claim's content words, beyond those of the question, found in ``evidence``."""
    new = content_stems(claim) - content_stems(question)
    if not new:
        return 1.0
    return len(new & content_stems(evidence)) / len(new)

