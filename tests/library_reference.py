"""The Library's paging and search done in Python over every row: what the tab did before its
page came from SQL (``Registry.documents_page``). Kept as the reference the SQL page is compared
with (tests/test_registry_pages.py) and as the benchmarks' "before" arm; the app does not use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.ui.render import LIBRARY_PER_PAGE
from ingest.registry import DocumentPage, file_name, page_bounds, search_needle


def document_matches(document: Any, query: str) -> bool:
    """Whether the search text is in the document's title or any of its file names (any case)."""
    needle = search_needle(query)
    if not needle:
        return True
    names = [document.title, *(file_name(p) for p in document.paths)]
    return any(needle in name.casefold() for name in names)


def document_page(documents: Sequence[Any], query: str, page: int,
                  per_page: int = LIBRARY_PER_PAGE) -> DocumentPage:
    """The documents matching ``query``, cut to page ``page`` (0-based; out-of-range numbers
    give the first or last page), in the order given."""
    matching = [d for d in documents if document_matches(d, query)]
    number, pages = page_bounds(len(matching), page, per_page)
    return DocumentPage(matching[number * per_page : (number + 1) * per_page], len(matching),
                        number, pages)
