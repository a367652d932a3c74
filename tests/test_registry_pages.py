"""The Library tab's page of documents, read in SQL (``Registry.documents_page``): newest first,
searched by title or file name in any case (non-ASCII letters too), counted and clamped like the
in-Python ``library_reference.document_page`` it replaces, indexed and failed documents apart."""

from __future__ import annotations

import types
from pathlib import Path

import pytest
from library_reference import document_page

from app.ui.render import page_line
from app.ui.state import AppState
from ingest.registry import FAILED, INDEXED, PathEntry, Registry
from ingest.settings import Settings


class Clock:
    """Stands in for ``time`` in the registry, so updated_at is chosen by the test."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr("ingest.registry.time", types.SimpleNamespace(time=clock.time))
    return clock


@pytest.fixture
def registry(tmp_path, clock):
    registry = Registry(tmp_path / "registry.sqlite3")
    yield registry
    registry.close()


def add(registry: Registry, number: int, title: str = "", path: str = "",
        status: str = INDEXED) -> str:
    doc_id = f"{number:064x}"
    registry.finish_document(doc_id, status=status, chunks=3 if status == INDEXED else 0, pages=1,
                             empty_pages=0, problems=[], title=title or f"Report {number}",
                             error=None if status == INDEXED else "truncated PDF",
                             path=PathEntry(path or f"/data/uploads/file-{number}.pdf", doc_id,
                                            10, 1))
    return doc_id


def add_many(registry: Registry, clock: Clock, count: int) -> list[str]:
    """``count`` documents, each a second newer than the one before; their ids, oldest first."""
    ids = []
    for number in range(count):
        clock.now += 1
        ids.append(add(registry, number))
    return ids


def ids(page) -> list[str]:
    return [d.doc_id for d in page.documents]


def test_pages_are_newest_first_and_out_of_range_numbers_clamp(registry, clock):
    added = add_many(registry, clock, 120)
    first = registry.documents_page(INDEXED, "", 0, per_page=50)
    assert (first.matching, first.number, first.pages) == (120, 0, 3)
    assert ids(first) == added[::-1][:50]
    last = registry.documents_page(INDEXED, "", 2, per_page=50)
    assert ids(last) == added[19::-1]  # the 20 oldest, newest of them first
    assert ids(registry.documents_page(INDEXED, "", 9, per_page=50)) == ids(last)
    assert registry.documents_page(INDEXED, "", 9, per_page=50).number == 2
    assert registry.documents_page(INDEXED, "", -3, per_page=50).number == 0
    assert page_line(last, "") == "page 3 of 3"


def test_an_empty_library_or_no_match_is_one_empty_page(registry, clock):
    empty = registry.documents_page(INDEXED, "", 4, per_page=50)
    assert (empty.documents, empty.matching, empty.number, empty.pages) == ([], 0, 0, 1)
    add_many(registry, clock, 3)
    nothing = registry.documents_page(INDEXED, "orchard", 2, per_page=50)
    assert (nothing.documents, nothing.matching, nothing.number, nothing.pages) == ([], 0, 0, 1)


def test_equal_times_are_ordered_as_the_full_list_reversed(registry, clock):
    # One timestamp for all (a coarse clock): doc_id decides, the same way in both reads.
    added = [add(registry, number) for number in (5, 1, 9, 3, 7)]
    page = registry.documents_page(INDEXED, "", 0, per_page=3)
    everything = list(reversed(registry.documents(INDEXED)))
    assert ids(page) == [d.doc_id for d in everything][:3] == sorted(added, reverse=True)[:3]


def test_a_search_finds_title_or_file_name_in_any_case(registry, clock):
    lighthouse = add(registry, 1, title="Lighthouses of the North",
                     path="/data/uploads/skerry-2024.pdf")
    add(registry, 2, title="Orchards", path="/data/uploads/apples.pdf")
    for query in ("LIGHTHOUSES", " Skerry ", "SKERRY-2024.PDF", "of the"):
        found = registry.documents_page(INDEXED, query, 0, per_page=50)
        assert (ids(found), found.matching) == ([lighthouse], 1), query
    assert registry.documents_page(INDEXED, "", 0, per_page=50).matching == 2


def test_non_ascii_letters_fold_like_python(registry, clock):
    # SQLite's lower() and LIKE fold ASCII only: these would not be found with them.
    doctors = add(registry, 1, title="ÄRZTE IM DIENST", path="/data/a.pdf")
    roads = add(registry, 2, title="Roads", path="/data/STRASSENBAU-Ölpreis.pdf")
    assert ids(registry.documents_page(INDEXED, "ärzte", 0, per_page=50)) == [doctors]
    assert ids(registry.documents_page(INDEXED, "Ärzte im", 0, per_page=50)) == [doctors]
    assert ids(registry.documents_page(INDEXED, "ölpreis", 0, per_page=50)) == [roads]
    assert ids(registry.documents_page(INDEXED, "Straße", 0, per_page=50)) == [roads]  # ß: ss


def test_folders_of_a_path_do_not_match(registry, clock):
    add(registry, 1, title="Notes", path="/data/Ärzte/uploads/notes.pdf")
    windows = add(registry, 2, title="Fruit", path="C:\\Reports\\orchard.pdf")
    for query in ("ärzte", "uploads", "data", "reports", "/notes.pdf", "\\orchard"):
        assert registry.documents_page(INDEXED, query, 0, per_page=50).matching == 0, query
    assert ids(registry.documents_page(INDEXED, "ORCHARD.pdf", 0, per_page=50)) == [windows]


def test_search_characters_are_literal_not_patterns(registry, clock):
    underscored = add(registry, 1, path="/d/tax_2024.pdf")
    add(registry, 2, path="/d/tax-2024.pdf")
    add(registry, 3, title="100 percent", path="/d/c.pdf")
    assert ids(registry.documents_page(INDEXED, "_", 0, per_page=50)) == [underscored]
    assert registry.documents_page(INDEXED, "%", 0, per_page=50).matching == 0
    assert registry.documents_page(INDEXED, "tax%2024", 0, per_page=50).matching == 0


def test_a_document_with_two_paths_matches_by_either_name(registry, clock):
    doc_id = add(registry, 1, title="Minutes", path="/data/first-name.pdf")
    clock.now += 1
    registry.attach_path(PathEntry("/elsewhere/Second-Name.pdf", doc_id, 10, 1))
    for query in ("first-name", "second-NAME"):
        found = registry.documents_page(INDEXED, query, 0, per_page=50)
        assert found.matching == 1 and ids(found) == [doc_id], query  # counted once
        assert found.documents[0].paths == ("/data/first-name.pdf", "/elsewhere/Second-Name.pdf")
        assert found.documents[0] == registry.document(doc_id)


def test_matches_are_counted_then_paged(registry, clock):
    add_many(registry, clock, 30)  # file-0.pdf ... file-29.pdf
    found = registry.documents_page(INDEXED, "FILE-1", 2, per_page=5)  # 1 and 10-19: 11
    assert (found.matching, found.number, found.pages) == (11, 2, 3)
    assert [d.name for d in found.documents] == ["file-1.pdf"]
    assert page_line(found, "FILE-1") == "page 3 of 3 · 11 documents matching “FILE\\-1”"
    clamped = registry.documents_page(INDEXED, "file-1", 7, per_page=5)
    assert (clamped.number, ids(clamped)) == (2, ids(found))


def test_indexed_and_failed_documents_are_paged_apart(registry, clock):
    indexed = add(registry, 1, path="/d/report-good.pdf")
    clock.now += 1
    failed = add(registry, 2, path="/d/report-broken.pdf", status=FAILED)
    assert ids(registry.documents_page(INDEXED, "report", 0, per_page=50)) == [indexed]
    broken = registry.documents_page(FAILED, "report", 0, per_page=50)
    assert ids(broken) == [failed] and broken.documents[0].error == "truncated PDF"
    assert registry.documents_page(FAILED, "good", 0, per_page=50).matching == 0


@pytest.mark.parametrize("query", ["", "report 1", "FILE-2", "ä", "orchard", " 7"])
@pytest.mark.parametrize("page", [-1, 0, 1, 3, 40])
def test_the_same_page_as_the_search_in_python(registry, clock, query, page):
    for number in range(60):
        clock.now += number % 3  # some documents share a time
        title = "Ärger im Büro" if number % 11 == 0 else ""
        add(registry, number, title=title, status=FAILED if number % 9 == 0 else INDEXED)
    for status in (INDEXED, FAILED):
        in_python = document_page(list(reversed(registry.documents(status))), query, page,
                                  per_page=7)
        assert registry.documents_page(status, query, page, per_page=7) == in_python


class PagedLibrary:
    """A library over a real registry that refuses to list every document."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def documents(self, status: str | None = None) -> list:
        raise AssertionError("the Library tab reads one page, not every document")

    def documents_page(self, status: str, query: str, page: int, per_page: int):
        return self.registry.documents_page(status, query, page, per_page)

    def status_counts(self) -> dict[str, int]:
        return self.registry.status_counts()

    def document_count(self) -> int:
        return self.registry.status_counts().get(INDEXED, 0)

    def chunk_total(self) -> int:
        return self.registry.indexed_chunk_total()


def test_the_library_tab_reads_one_page_and_counts_by_status(registry, clock, tmp_path):
    from app.ui.library_page import LibraryPage

    for number in range(130):
        clock.now += 1
        add(registry, number, status=FAILED if number % 2 else INDEXED)  # 65 of each
    state = AppState(Settings(data_dir=Path(tmp_path)), PagedLibrary(registry))
    view = LibraryPage(state, shell=None).view("file-", 1)
    count, rows, line, number, _, failed_section, heading, failed_rows = view[:8]
    assert count == "65 documents · 65 files could not be read · 195 passages"
    assert (line, number) == ("page 2 of 2 · 65 documents matching “file\\-”", 1)
    assert [row[1] for row in rows] == [f"file-{n}.pdf" for n in range(28, -1, -2)]
    assert failed_section["visible"] is True
    assert heading.endswith("The latest 50 of 65 are listed.")
    assert failed_rows[0][0] == "file-129.pdf" and len(failed_rows) == 50
