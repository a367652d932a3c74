"""Saved chats in a real browser against the real app and model: a chat scoped to one document
never cites another; regenerate and edit the last question; rename and export; the chat survives
a restart of `localrag serve` and reopens with its sources; deleting it asks first."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pdfgen import prose, write_pdf
from test_ui import (
    ANSWER_TIMEOUT_MS,
    CHROMIUM,
    CHROMIUM_ARGS,
    REPO,
    SCREENSHOTS,
    ask,
    launch_serve,
    stop_serve,
)

ROWS = "#lr-chat .message-row"


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """A data directory holding two documents on different subjects, indexed by the CLI."""
    root = tmp_path_factory.mktemp("chats")
    files = []
    for name, fact in (("tides.pdf", "The Morrow Bay tide gauge was installed in 1962 by the "
                                     "hydrographer Tomas Reyes."),
                       ("orchard.pdf", "The Kestrel Hill orchard grows 340 pear trees of the "
                                       "Conference variety, planted by Tomas Reyes.")):
        files.append(write_pdf(root / name, [prose("coast and fields"),
                                             fact + " " + prose("records", 4)]))
    env = {**os.environ, "PYTHONPATH": str(REPO), "LOCALRAG_DATA_DIR": str(root / "data")}
    subprocess.run([sys.executable, "-m", "app.cli", "ingest", *map(str, files)], env=env,
                   cwd=root, check=True, capture_output=True, timeout=600)
    return root


def open_page(browser, url):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("#lr-question textarea")
    return page


def choose_scope(page, name: str) -> None:
    page.get_by_text("Ask only within chosen documents").click()
    page.locator("#lr-scope input").click()
    page.get_by_role("option", name=name, exact=False).first.click()
    page.wait_for_function(
        "n => document.querySelector('#lr-scope-line').innerText.includes('only in: ' + n)",
        arg=name, timeout=30_000)
    page.keyboard.press("Escape")  # close the option list (Stop has nothing to stop)


def watch_for_placeholder(page) -> None:
    """Set ``window.__sawPlaceholder`` once the last chat row shows an unfinished answer (ends
    with "…"); a MutationObserver sees every rendered state, however briefly it shows."""
    page.evaluate("""() => {
        window.__sawPlaceholder = false;
        new MutationObserver(() => {
            const r = document.querySelectorAll('#lr-chat .message-row');
            if (r.length && r[r.length - 1].innerText.trim().endsWith('…'))
                window.__sawPlaceholder = true;
        }).observe(document.querySelector('#lr-chat'),
                   {subtree: true, childList: true, characterData: true});
    }""")


def test_scoped_saved_chat_survives_a_restart(library, test_gguf, tmp_path):
    from playwright.sync_api import sync_playwright

    gguf = test_gguf("qwen2.5-0.5b")
    server, url = launch_serve(library, gguf)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = open_page(browser, url)
            assert "whole library" in page.locator("#lr-scope-line").inner_text()
            choose_scope(page, "orchard.pdf")

            # The fact is in tides.pdf only: the scoped chat must not find or cite it.
            ask(page, "When was the Morrow Bay tide gauge installed?")
            assert "tides.pdf" not in page.locator("#lr-sources").inner_text()
            answer = ask(page, "How many pear trees grow in the Kestrel Hill orchard?")
            assert "340" in answer
            sources = page.locator("#lr-sources").inner_text()
            assert "orchard.pdf" in sources and "tides.pdf" not in sources
            assert page.locator(ROWS).count() == 4

            # Regenerate answers the last question again in place of its answer. The old answer
            # already holds 340: wait until the new one has started (its placeholder was shown),
            # else Edit below would race the answer still being written and saved.
            watch_for_placeholder(page)
            page.locator("#lr-regenerate").click()
            page.wait_for_function(
                "() => { const r = document.querySelectorAll('#lr-chat .message-row');"
                " return window.__sawPlaceholder && r.length === 4"
                " && r[3].innerText.includes('340') && !r[3].innerText.trim().endsWith('…'); }",
                timeout=ANSWER_TIMEOUT_MS)
            # Edit the last question: it goes back into the box, its answer goes.
            page.locator("#lr-edit-last").click()
            page.wait_for_function(
                "() => document.querySelectorAll('#lr-chat .message-row').length === 2")
            box = page.locator("#lr-question textarea")
            assert box.input_value().startswith("How many pear trees")
            answer = ask(page, "How many pear trees of the Conference variety grow there?")
            assert page.locator(ROWS).count() == 4

            page.get_by_text("This chat").click()
            title = page.locator("#lr-chat-title textarea")
            title.fill("Orchard questions")
            page.locator("#lr-rename-chat").click()
            page.wait_for_function("document.querySelector('#lr-chat-list').innerText"
                                   ".includes('Orchard questions')")
            page.locator("#lr-export-chat").click()
            page.wait_for_function("document.querySelector('#lr-chat-report').innerText"
                                   ".includes('Exported 2 questions')")
            with page.expect_download() as download:  # the browser gets the file
                page.locator("#lr-export-file").click()
            assert download.value.suggested_filename == "Orchard-questions.md"
            exported = Path(download.value.path()).read_text()
            assert "## How many pear trees of the Conference variety grow there?" in exported
            assert "[orchard.pdf p.2]" in exported and "tides.pdf" not in exported
            assert "Questions limited to: orchard.pdf." in exported  # named, not an id
            page.screenshot(path=str(SCREENSHOTS / "saved-chats.png"))
            browser.close()

        stop_serve(server)
        server, url = launch_serve(library, gguf)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = open_page(browser, url)
            assert page.locator(ROWS).count() == 0  # a new page starts a new chat
            page.locator("#lr-chat-list label", has_text="Orchard questions").click()
            page.wait_for_function(
                "() => document.querySelectorAll('#lr-chat .message-row').length === 4")
            assert "340" in page.locator(ROWS).last.inner_text()
            assert "orchard.pdf" in page.locator("#lr-sources").inner_text()
            assert "only in: orchard" in page.locator("#lr-scope-line").inner_text()
            # The reopened chat goes on with its history and scope.
            follow_up = ask(page, "Who planted them?")
            assert "tides.pdf" not in page.locator("#lr-sources").inner_text(), follow_up

            page.get_by_text("This chat").click()
            page.locator("#lr-delete-chat").click()
            assert "Delete “Orchard questions”" in page.locator(
                "#lr-delete-chat-question").inner_text()
            page.locator("#lr-cancel-delete-chat").click()
            assert page.locator("#lr-chat-list label", has_text="Orchard questions").count() == 1
            page.locator("#lr-delete-chat").click()
            page.locator("#lr-confirm-delete-chat").click()
            page.wait_for_function("!document.querySelector('#lr-chat-list').innerText"
                                   ".includes('Orchard questions')")
            assert page.locator(ROWS).count() == 0
            browser.close()
    finally:
        stop_serve(server)
