"""Answer scoring without an LLM judge: SQuAD-normalised token overlap and numeric agreement."""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_NUMBER = re.compile(r"(?<![\w.])[-−(]?\$?\d[\d,]*(?:\.\d+)?\)?%?")


def normalize(text: str) -> str:
    """SQuAD normalisation: lower case, no punctuation, no articles, single spaces. Unicode
    punctuation counts too (NFKC first): a gold "HCoV‐HKU1" with U+2010 is the answer's
    "HCoV-HKU1"."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(ch for ch in text
                   if ch not in _PUNCTUATION and not unicodedata.category(ch).startswith("P"))
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _tokens(text: str) -> list[str]:
    return normalize(text).split()


def token_recall(prediction: str, gold: str) -> float:
    """Share of the gold answer's tokens present in the prediction (counted with multiplicity)."""
    gold_tokens = _tokens(gold)
    if not gold_tokens:
        return 0.0
    common = Counter(gold_tokens) & Counter(_tokens(prediction))
    return sum(common.values()) / len(gold_tokens)


def token_f1(prediction: str, gold: str) -> float:
    pred_tokens, gold_tokens = _tokens(prediction), _tokens(gold)
    common = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred_tokens), common / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def contains(prediction: str, gold: str) -> bool:
    """Whether the normalised gold answer appears verbatim in the normalised prediction."""
    gold_norm = normalize(gold)
    return bool(gold_norm) and gold_norm in normalize(prediction)


def numbers_in(text: str) -> list[float]:
    """Numbers written in ``text``: 1,234.5 / $12 / 7% / (3.2) as negative."""
    values = []
    for raw in _NUMBER.findall(text):
        negative = raw.startswith(("-", "−")) or (raw.startswith("(") and raw.rstrip("%").endswith(")"))
        digits = re.sub(r"[^\d.]", "", raw)
        if not digits or digits == ".":
            continue
        try:
            value = float(digits)
        except ValueError:
            continue
        values.append(-value if negative else value)
    return values


def numeric_match(prediction: str, gold: str, tolerance: float = 0.01) -> bool | None:
    """Whether the prediction states the gold answer's first number within ``tolerance``
    (relative); None when the gold answer has no number. Scale words are not interpreted: a gold
    of "$1.5 billion" matches "1.5", as financebench answers are scored."""
    gold_numbers = numbers_in(gold)
    if not gold_numbers:
        return None
    target = gold_numbers[0]
    for value in numbers_in(prediction):
        if target == 0 and value == 0:
            return True
        if target != 0 and abs(value - target) <= tolerance * abs(target):
            return True
    return False


def numbers_share(prediction: str, gold: str, tolerance: float = 0.01) -> float | None:
    """Share of the gold answer's numbers that the prediction states (within ``tolerance``)."""
    gold_numbers = numbers_in(gold)
    if not gold_numbers:
        return None
    predicted = numbers_in(prediction)
    found = sum(
        any(abs(p - g) <= tolerance * abs(g) if g else p == 0 for p in predicted)
        for g in gold_numbers
    )
    return found / len(gold_numbers)
