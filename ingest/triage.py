"""Which pages need OCR: a pure decision on a page's text layer (and, when that text is thin,
how much of the page is image).

The rule, and why (docs/DEVELOPMENT.md, "Page triage"):
- **Empty**: fewer than ``MIN_TEXT_CHARS`` letters or digits. pypdf returns "" for a scanned page
  with no warning; a page number alone is no text either.
- **cid runs**: ``(cid:12)`` tokens are glyphs pypdf could not map to characters (a font without
  a ToUnicode map). When they are ``CID_SHARE`` of the tokens the layer is unreadable.
- **Garbage**: a scanner's or a broken font's text layer that is not words. Real text in any
  Latin-script language is mostly letters, digits, spaces and common punctuation and most of its
  tokens look like words; a layer below ``MIN_CLEAN_SHARE`` clean characters or ``MIN_WORD_SHARE``
  word-like tokens is garbage. Both shares are far from real pages on the test and covidqa PDFs
  (clean share >= 0.97, word share >= 0.6 on tables of numbers too, since numbers count).
- **Image page**: a page that is mostly one picture (``IMAGE_COVERAGE`` of its area) with only a
  few stray words (fewer than ``IMAGE_PAGE_MAX_WORDS``: a stamped page number, a fax header). A
  scan with an invisible OCR layer from the scanner has a full text layer and is kept as it is.
Everything else has a good text layer and is never OCR'd: OCR is slower (about a second a page)
and less exact than the text layer.
"""

from __future__ import annotations

import re
from collections.abc import Callable

MIN_TEXT_CHARS = 20
CID_SHARE = 0.2
MIN_CLEAN_SHARE = 0.8
MIN_WORD_SHARE = 0.4
IMAGE_COVERAGE = 0.5
IMAGE_PAGE_MAX_WORDS = 30

EMPTY, CID, GARBAGE, IMAGE = "empty", "cid", "garbage", "image"

_CID = re.compile(r"\(cid:\d+\)")
_TOKEN = re.compile(r"\S+")
_CLEAN_PUNCTUATION = set(".,;:!?'\"()[]{}-–—/%&$€£+*=<>#@_…‘’“”•·§°|")
# A word: letters (any script, with apostrophes or hyphens inside), or a number, with
# punctuation around it.
_WORD = re.compile(r"^[\W_]*(?:[^\W\d_]+(?:['’\-][^\W\d_]+)*|\d+(?:[.,:/\-]\d+)*%?)[\W_]*$")


def _words(text: str) -> int:
    return sum(1 for token in _TOKEN.findall(text) if _WORD.match(token))


def triage(text: str, image_coverage: Callable[[], float]) -> str | None:
    """Why the page needs OCR (``EMPTY``, ``CID``, ``GARBAGE``, ``IMAGE``), or None for a good
    text layer. ``image_coverage`` (share of the page's area covered by images, 0-1) is only
    called for a page with few words, since measuring it means walking the page's objects."""
    tokens = _TOKEN.findall(text)
    cids = sum(1 for token in tokens if _CID.search(token))
    if tokens and cids / len(tokens) >= CID_SHARE:
        return CID
    text = _CID.sub(" ", text)
    chars = [ch for ch in text if not ch.isspace()]
    if sum(ch.isalnum() for ch in chars) < MIN_TEXT_CHARS:
        return EMPTY
    clean = sum(ch.isalnum() or ch in _CLEAN_PUNCTUATION for ch in chars)
    tokens = _TOKEN.findall(text)
    words = _words(text)
    if clean / len(chars) < MIN_CLEAN_SHARE or words / len(tokens) < MIN_WORD_SHARE:
        return GARBAGE
    if words < IMAGE_PAGE_MAX_WORDS and image_coverage() >= IMAGE_COVERAGE:
        return IMAGE
    return None
