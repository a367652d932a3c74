"""The Library tab's pure parts: search, paging, counts, outcome words; only indexed documents
count as documents."""

from __future__ import annotations

from pathlib import Path

import pytest
from library_reference import document_matches, document_page

from app.ui.render import (
    count_line,
    document_label,
    documents_rows,
    failed_rows,
    outcome_words,
    page_line,
    upload_line,
    upload_summary,
)
from app.ui.state import AppState
from ingest.registry import FAILED, INDEXED, Document, PathEntry, Registry
from ingest.results import FileResult
from ingest.settings import Settings


def doc(number: int, title: str = "", name: str = "", status: str = INDEXED,
        error: str | None = None) -> Document:
    return Document(doc_id=f"{number:064x}", title=title or f"Report {number}", size=100, pages=3,
                    chunks=7, empty_pages=0, status=status, error=error, problems=(),
                    updated_at=1_700_000_000.0 + number,
                    paths=(f"/data/uploads/{name or f'file-{number}.pdf'}",))


LIBRARY = [doc(i) for i in range(1, 121)]


def test_search_matches_title_or_file_name_in_any_case():
    lighthouse = doc(1, title="Lighthouses of the North", name="skerry-2024.pdf")
    assert document_matches(lighthouse, "LIGHTHOUSES")
    assert document_matches(lighthouse, " Skerry ")
    assert document_matches(lighthouse, "")
    assert not document_matches(lighthouse, "uploads")  # the folder is not the name
    assert not document_matches(lighthouse, "orchard")


def test_pages_hold_per_page_rows_and_clamp_out_of_range_numbers():
    first = document_page(LIBRARY, "", 0, per_page=50)
    assert (len(first.documents), first.matching, first.number, first.pages) == (50, 120, 0, 3)
    last = document_page(LIBRARY, "", 2, per_page=50)
    assert [d.title for d in last.documents] == [f"Report {i}" for i in range(101, 121)]
    assert document_page(LIBRARY, "", 9, per_page=50).number == 2
    assert document_page(LIBRARY, "", -1, per_page=50).number == 0
    assert page_line(last, "") == "page 3 of 3"


def test_search_then_page():
    found = document_page(LIBRARY, "report 1", 0, per_page=10)  # 1, 10-19, 100-120
    assert found.matching == 1 + 10 + 21 and found.pages == 4
    assert [d.title for d in found.documents][:3] == ["Report 1", "Report 10", "Report 11"]
    assert page_line(found, "report 1") == "page 1 of 4 · 32 documents matching “report 1”"
    nothing = document_page(LIBRARY, "orchard", 3, per_page=10)
    assert (nothing.documents, nothing.matching, nothing.number, nothing.pages) == ([], 0, 0, 1)


def test_ten_thousand_documents_send_one_page():
    many = [doc(i) for i in range(10_000)]
    shown = document_page(many, "file-99", 1, per_page=50)
    assert shown.matching == 111 and len(documents_rows(shown.documents)) == 50


def test_count_line_counts_failed_files_apart():
    assert count_line(98, 2, 12345) == "98 documents · 2 files could not be read · 12,345 passages"
    assert count_line(1, 0, 1) == "1 document · 1 passage"
    assert count_line(0, 1, 0) == "0 documents · 1 file could not be read · 0 passages"


def test_rows_and_labels_are_plain_text():
    hostile = doc(5, title="<script>x</script>", name="a*b.pdf")
    assert documents_rows([hostile])[0][:4] == ["<script>x</script>", "a*b.pdf", 3, 7]
    assert document_label(hostile) == "<script>x</script> (a*b.pdf)"
    assert document_label(doc(6, title="notes", name="notes.pdf")) == "notes.pdf"
    bad = doc(7, status=FAILED, error="truncated PDF", name="broken.pdf")
    assert failed_rows([bad])[0][:2] == ["broken.pdf", "truncated PDF"]
    line = page_line(document_page(LIBRARY, "*[x](http://h)", 0), "*[x](http://h)")
    assert "](http" not in line and "\\*" in line


@pytest.mark.parametrize("result, words", [
    (FileResult("/u/a.pdf", "indexed", "x", pages=12, chunks=40),
     "added: 12 pages, 40 passages"),
    (FileResult("/u/a.pdf", "indexed", "x", pages=1, chunks=1, problems=("2 pages without text",)),
     "added: 1 page, 1 passage; 2 pages without text"),
    (FileResult("/u/a.pdf", "unchanged", "x", pages=3, chunks=5),
     "already in your library (same content)"),
    (FileResult("/u/b.pdf", "duplicate", "x", reason="same content as /u/a.pdf: not embedded"),
     "already in your library under another file name (same content)"),
    (FileResult("/u/b.pdf", "renamed", "x", reason="was /u/a.pdf"),
     "already in your library (same content; the file was moved or renamed)"),
    (FileResult("/u/c.pdf", "failed", reason="truncated PDF"), "could not be read: truncated PDF"),
    (FileResult("/u/c.pdf", "failed", reason="truncated PDF (unchanged content)"),
     "could not be read: truncated PDF (it failed before too: use Retry under “Files that could "
     "not be read”)"),
    (FileResult("/u/c.pdf", "failed", reason="truncated PDF (unchanged; --retry-failed to try "
                                              "again)"),
     "could not be read: truncated PDF (it failed before too: use Retry under “Files that could "
     "not be read”)"),
])
def test_outcomes_in_plain_words(result, words):
    assert outcome_words(result) == words
    assert "unchanged" not in outcome_words(result) and "--" not in outcome_words(result)


def test_upload_report_has_a_line_per_file_and_a_summary():
    results = [FileResult("/u/a.pdf", "indexed", "x", pages=2, chunks=3),
               FileResult("/u/b.pdf", "unchanged", "y", pages=2, chunks=3),
               FileResult("/u/c_[1].pdf", "failed", reason="damaged PDF")]
    assert upload_summary(results, rejected=1) == \
        "**4 files**: 1 added · 1 already in your library · 2 could not be read"
    assert upload_line("a.pdf", results[0]) == "- ✓ a\\.pdf — added: 2 pages, 3 passages"
    assert upload_line("c_[1].pdf", results[2]) == \
        "- ✗ c\\_\\[1\\]\\.pdf — could not be read: damaged PDF"


def test_the_registry_lists_paths_and_counts_by_status(tmp_path):
    registry = Registry(tmp_path / "registry.sqlite3")
    for number, status in ((1, INDEXED), (2, INDEXED), (3, FAILED)):
        doc_id = f"{number:064x}"
        registry.finish_document(doc_id, status=status, chunks=4 if status == INDEXED else 0,
                                 pages=2, empty_pages=0, problems=[], title=f"t{number}",
                                 error=None if status == INDEXED else "truncated PDF",
                                 path=PathEntry(str(tmp_path / f"{number}.pdf"), doc_id, 10, 1))
    registry.attach_path(PathEntry(str(tmp_path / "copy.pdf"), f"{1:064x}", 10, 1))
    assert registry.status_counts() == {INDEXED: 2, FAILED: 1}
    indexed = registry.documents(INDEXED)
    assert [d.paths for d in indexed] == [(str(tmp_path / "1.pdf"), str(tmp_path / "copy.pdf")),
                                          (str(tmp_path / "2.pdf"),)]
    assert indexed == [registry.document(d.doc_id) for d in indexed]  # same rows, one query
    assert [d.error for d in registry.documents(FAILED)] == ["truncated PDF"]
    assert len(registry.documents()) == 3
    registry.close()


class CountingLibrary:
    """What AppState asks the library for the banner and the status line."""

    def document_count(self) -> int:
        return 98

    def documents(self, status: str | None = None) -> list[Document]:
        raise AssertionError("the status line counts documents without listing them")

    def chunk_total(self) -> int:
        return 12345


def test_the_status_line_and_banner_count_indexed_documents_only(tmp_path):
    state = AppState(Settings(data_dir=Path(tmp_path)), CountingLibrary())
    assert "98 documents" in state.status_text()
    assert state.banner_text() == ""

    class EmptyLibrary(CountingLibrary):
        def document_count(self) -> int:
            return 0  # two failed files, say: still nothing to search

    assert "No documents indexed yet" in AppState(Settings(data_dir=Path(tmp_path)),
                                                  EmptyLibrary()).banner_text()
