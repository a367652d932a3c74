"""Where a query's words are in a text: the marked words of a source card and the window of a
search result. Pure; the same word matching as retrieval's keyword side (``query_terms``)."""

from __future__ import annotations

import re

from ingest.lexical import query_terms


def marked_spans(text: str, query: str) -> list[tuple[str, bool]]:
    """Split ``text`` into (piece, matched) so a UI can highlight the query's words.

    A word matches a query term exactly or by a shared stem of at least five letters, close
    enough to what the Porter-stemmed keyword index matched.
    """
    terms = query_terms(query)
    if not terms:
        return [(text, False)]
    stems = {t[:5] if len(t) > 5 else t for t in terms}

    def matches(word: str) -> bool:
        lower = word.lower()
        return lower in terms or (len(lower) >= 5 and lower[:5] in stems)

    spans: list[tuple[str, bool]] = []
    last = 0
    for match in re.finditer(r"\w+", text):
        if matches(match.group()):
            if match.start() > last:
                spans.append((text[last : match.start()], False))
            spans.append((match.group(), True))
            last = match.end()
    if last < len(text):
        spans.append((text[last:], False))
    return spans


def snippet(text: str, query: str, width: int = 240) -> str:
    """A window of ``text`` around its first match of the query, whitespace folded."""
    flat = " ".join(text.split())
    spans = marked_spans(flat, query)
    position, first = 0, 0
    for piece, matched in spans:
        if matched:
            first = position
            break
        position += len(piece)
    start = max(0, min(first - width // 3, len(flat) - width))
    window = flat[start : start + width]
    return ("…" if start > 0 else "") + window + ("…" if start + width < len(flat) else "")
