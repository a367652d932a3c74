"""The Library tab in a real browser (Debian's Chromium driven by Playwright) against
`localrag serve`: failed files apart and not counted, a batch reported file by file, search,
picking a row, and a delete that asks first."""

from __future__ import annotations

import test_ui
from pdfgen import prose, write_pdf
from test_ui import ANSWER_TIMEOUT_MS, SCREENSHOTS

# test_ui's fixtures (the served app, the browser, a page on it), found by these names; this
# module gets its own server and data directory (module scope).
app_url, browser, page = test_ui.app_url, test_ui.browser, test_ui.page


def upload(page, *pdfs) -> str:
    """Upload files at once; the new report once it counts them and each has its ✓ or ✗ line
    (the report must differ from the one before: its count or its names)."""
    page.get_by_role("tab", name="Library").click()
    page.locator("#lr-upload input[type=file]").set_input_files([str(p) for p in pdfs])
    counted = f"{len(pdfs)} file{'s' if len(pdfs) > 1 else ''}:"
    page.wait_for_function(
        "([counted, names]) => { const t = document.querySelector('#lr-upload-report').innerText;"
        " return t.includes(counted)"
        " && names.every(n => t.includes('✓ ' + n) || t.includes('✗ ' + n)); }",
        arg=[counted, [p.name for p in pdfs]], timeout=ANSWER_TIMEOUT_MS)
    return page.locator("#lr-upload-report").inner_text()


def pick(page, selector: str, name: str) -> None:
    """Choose ``name`` in a dropdown, until the dropdown shows it: a click on an option that
    the list re-renders under does not take (Retry then retried nothing: a 60 s timeout, once
    in a full run)."""
    shown = f"document.querySelector('{selector} input').value.includes('{name}')"
    for _ in range(3):
        page.locator(f"{selector} input").click()
        page.get_by_role("option", name=name, exact=False).click()
        try:
            page.wait_for_function(shown, timeout=5_000)
            return
        except Exception:  # noqa: BLE001 - Playwright's TimeoutError: pick again
            continue
    page.wait_for_function(shown, timeout=5_000)


def table_text(page, selector: str = "#lr-documents") -> str:
    return page.locator(selector).inner_text()


def wait_for_text(page, selector: str, text: str, present: bool = True) -> None:
    page.wait_for_function(
        "([sel, text, present]) => { const el = document.querySelector(sel);"
        " return !!el && el.innerText.includes(text) === present; }",
        arg=[selector, text, present], timeout=60_000)


def test_library_tab(page, tmp_path):
    lighthouses = write_pdf(tmp_path / "lighthouses.pdf",
                            [prose("coastal lights"), prose("lamp keepers"), prose("fog signals")],
                            title="Lighthouses of the North")
    orchard = write_pdf(tmp_path / "orchard.pdf", [prose("pear trees", 4)], title="Kestrel Hill")
    good = write_pdf(tmp_path / "source.pdf", [prose("truncated", 40)] * 3).read_bytes()
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(good[: len(good) // 2])  # starts with %PDF-: stored, then fails to parse

    # Two files at once: the report keeps both, in plain words.
    report = upload(page, lighthouses, broken)
    assert "2 files: 1 added · 1 could not be read" in report
    assert "✓ lighthouses.pdf — added: 3 pages" in report
    assert "✗ broken.pdf — could not be read: truncated PDF" in report

    # The failed file is listed apart, with its reason, and is not a document.
    wait_for_text(page, "#lr-failed", "broken.pdf")
    assert "truncated PDF" in table_text(page, "#lr-failed")
    assert "Files that could not be read" in page.locator("#lr-failed-section").inner_text()
    assert "broken.pdf" not in table_text(page)
    assert "Lighthouses of the North" in table_text(page)
    # The count and the status line render after the tables: waited for, not read at once (a
    # bare read here failed once on an idle machine).
    wait_for_text(page, "#lr-library-count", "1 document · 1 file could not be read · ")
    assert page.locator("#lr-library-count").inner_text().startswith(
        "1 document · 1 file could not be read · ")
    page.wait_for_function(
        "(() => { const el = document.querySelector('#lr-status');"
        " return !!el && el.textContent.includes('Index 1 documents'); })()", timeout=60_000)

    # The same file again: already there, said plainly.
    assert "already in your library (same content)" in upload(page, lighthouses)
    assert "✓ orchard.pdf — added" in upload(page, orchard)
    wait_for_text(page, "#lr-library-count", "2 documents · 1 file could not be read")

    # Search filters the table by title or file name.
    search = page.locator("#lr-library-search textarea, #lr-library-search input").first
    search.fill("KESTREL")
    wait_for_text(page, "#lr-documents", "lighthouses.pdf", present=False)
    assert "orchard.pdf" in table_text(page)
    wait_for_text(page, "#lr-page-label", "page 1 of 1 · 1 document matching")
    search.fill("")
    wait_for_text(page, "#lr-documents", "lighthouses.pdf")

    # A click on a row picks its document; Delete asks first, Cancel keeps it.
    page.locator("#lr-documents [role=gridcell]", has_text="orchard.pdf").first.click()
    page.wait_for_function(
        "document.querySelector('#lr-doc-pick input').value.includes('orchard.pdf')")
    page.locator("#lr-delete").click()
    question = page.locator("#lr-delete-question")
    question.wait_for(state="visible")
    assert "Delete Kestrel Hill (orchard.pdf)? This removes it from search." in \
        question.inner_text()
    page.screenshot(path=str(SCREENSHOTS / "library.png"), full_page=True)
    page.locator("#lr-delete-cancel").click()
    question.wait_for(state="hidden")
    assert "orchard.pdf" in table_text(page)
    wait_for_text(page, "#lr-library-report", "Nothing deleted")

    # Confirm deletes.
    page.locator("#lr-delete").click()
    page.locator("#lr-delete-confirm").click()
    wait_for_text(page, "#lr-documents", "orchard.pdf", present=False)
    wait_for_text(page, "#lr-library-report", "Deleted orchard.pdf")
    wait_for_text(page, "#lr-library-count", "1 document · 1 file could not be read")

    # Retry reads the failed file again (the same bytes fail the same way).
    pick(page, "#lr-failed-pick", "broken.pdf")
    page.locator("#lr-retry").click()
    wait_for_text(page, "#lr-failed-report", "✗ broken.pdf — could not be read: truncated PDF")
