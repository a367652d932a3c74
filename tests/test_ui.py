"""The browser app in a real browser: Debian's Chromium driven by Playwright, against
`localrag serve` with the real embedder, Chroma and a real GGUF through llama.cpp."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
from conftest import free_port
from pdfgen import prose, write_pdf

REPO = Path(__file__).resolve().parents[1]
SCREENSHOTS = REPO / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
# Chromium's own background traffic would try the network; the resolver rule keeps every name but
# 127.0.0.1 unresolvable, so the request log only holds what the page itself asked for.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
ANSWER_TIMEOUT_MS = 300_000


def launch_serve(root: Path, gguf: Path, port: int | None = None,
                 env: dict[str, str] | None = None, args: tuple[str, ...] = ()
                 ) -> tuple[subprocess.Popen, str]:
    """`localrag serve` on ``root``/data with the real embedder and ``gguf`` through llama.cpp
    (``env`` overrides or adds settings), once it answers."""
    import httpx

    port = port or free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO), "LOCALRAG_DATA_DIR": str(root / "data"),
           "LOCALRAG_LLM_BACKEND": "llamacpp", "LOCALRAG_GGUF": str(gguf), **(env or {})}
    log = (root / "serve.log").open("a")
    server = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port),
                               *args], env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 180
    while True:
        if server.poll() is not None:
            raise RuntimeError((root / "serve.log").read_text()[-3000:])
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return server, url
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            server.kill()
            raise TimeoutError((root / "serve.log").read_text()[-3000:])
        time.sleep(0.5)


def stop_serve(server: subprocess.Popen) -> None:
    server.terminate()
    server.wait(timeout=60)


@pytest.fixture(scope="module")
def app_url(tmp_path_factory, test_gguf):
    root = tmp_path_factory.mktemp("ui")
    server, url = launch_serve(root, test_gguf("qwen2.5-0.5b"))
    yield url, root
    stop_serve(server)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, app_url):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.requests = []  # every URL the page asked for
    page.on("request", lambda request: page.requests.append(request.url))
    page.goto(app_url[0])
    page.wait_for_selector("#lr-question textarea")
    yield page
    outside = [u for u in page.requests if urlparse(u).hostname not in ("127.0.0.1", None)
               and not u.startswith(("data:", "blob:"))]
    assert outside == [], f"the page contacted other hosts: {outside[:5]}"
    context.close()


def phrase_box(pdf: Path, page_index: int, phrase: str) -> tuple[float, float, float, float]:
    """Where ``phrase`` lies on the page, as fractions of it (left, top, right, bottom)."""
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(str(pdf))
    page = document[page_index]
    width, height = page.get_size()
    text = page.get_textpage()
    start, count = text.search(phrase).get_next()
    rects = [text.get_rect(i) for i in range(text.count_rects(start, count))]
    document.close()
    return (min(r[0] for r in rects) / width, 1 - max(r[3] for r in rects) / height,
            max(r[2] for r in rects) / width, 1 - min(r[1] for r in rects) / height)


def page_fraction(box: dict, image: dict) -> tuple[float, float, float, float]:
    """A box on screen as fractions of the page image (left, top, right, bottom)."""
    return ((box["x"] - image["x"]) / image["width"], (box["y"] - image["y"]) / image["height"],
            (box["x"] + box["width"] - image["x"]) / image["width"],
            (box["y"] + box["height"] - image["y"]) / image["height"])


def overlaps(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def upload(page, pdf: Path) -> str:
    page.get_by_role("tab", name="Library").click()
    page.locator("#lr-upload input[type=file]").set_input_files(str(pdf))
    page.wait_for_function(
        "name => { const t = document.querySelector('#lr-upload-report').innerText;"
        " return t.includes(name) && (t.includes('✓') || t.includes('✗')); }",
        arg=pdf.name, timeout=ANSWER_TIMEOUT_MS)
    return page.locator("#lr-upload-report").inner_text()


def ask(page, question: str) -> str:
    page.get_by_role("tab", name="Chat").click()
    page.evaluate("""() => {
        window.__chatMutations = 0;
        new MutationObserver(() => window.__chatMutations++).observe(
            document.querySelector('#lr-chat'), {subtree: true, childList: true, characterData: true});
    }""")
    before = page.locator("#lr-chat .message-row").count()
    box = page.locator("#lr-question textarea")
    box.fill(question)
    box.press("Enter")
    # Done when the answer's sources replaced the empty panel (the last update of an answer, sent
    # for refusals too) and the bot message holds more than the placeholder.
    page.wait_for_function(
        "n => { const rows = document.querySelectorAll('#lr-chat .message-row');"
        " const panel = document.querySelector('#lr-sources').innerText;"
        " return rows.length >= n + 2 && !rows[rows.length - 1].innerText.trim().endsWith('…')"
        " && !panel.includes('Sources appear here'); }",
        arg=before, timeout=ANSWER_TIMEOUT_MS)
    return page.locator("#lr-chat .message-row").last.inner_text()


def test_upload_ask_check_the_page_delete_ask_again(page, app_url, tmp_path):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    pdf = tmp_path / "lighthouses.pdf"
    write_pdf(pdf, [prose("coastal lights"), prose("lamp keepers"),
                    "The Skerry Point lighthouse was automated in 1987 by the engineer Ingrid "
                    "Halvorsen, who later wrote its maintenance manual. " + prose("fog signals", 4)],
              title="Lighthouses of the North")
    assert "No documents indexed yet" in page.locator("#lr-banner").inner_text()
    report = upload(page, pdf)
    assert "✓ lighthouses.pdf" in report and "3 pages" in report
    page.wait_for_function("document.querySelector('#lr-documents').innerText.includes('lighthouses.pdf')")

    answer = ask(page, "Who automated the Skerry Point lighthouse?")
    assert "Halvorsen" in answer
    assert page.evaluate("window.__chatMutations") >= 3  # streamed in pieces, not one block
    citation = page.locator("#lr-chat a[href^='#source-']").first
    assert citation.inner_text().startswith("[")  # the marker links to its source
    first_source = page.locator("#lr-sources .lr-source").first
    assert "lighthouses.pdf" in first_source.inner_text() and "p.3" in first_source.inner_text()
    assert first_source.locator("mark").count() > 0  # matched words highlighted
    assert "tokens" in page.locator("#lr-status").inner_text()  # context used by the answer

    # Clicking the marker opens the cited page beside the chat, wide enough to read, with the
    # passage shaded on its words.
    citation.click()
    page.wait_for_function("() => { const i = document.querySelector('#lr-page-image');"
                           " return i && i.naturalWidth > 0; }", timeout=60_000)
    assert page.locator("#lr-chat").is_visible()  # the chat stays in view
    image = page.locator("#lr-page-image").bounding_box()
    assert image["width"] >= 800, image
    assert "page 3 of 3" in page.locator("#lr-viewer").inner_text()
    words = phrase_box(pdf, 2, "Skerry Point lighthouse")
    shades = [page_fraction(box, image) for box in
              (s.bounding_box() for s in page.locator("#lr-viewer .lr-shade").all())]
    assert any(overlaps(shade, words) for shade in shades), (shades, words)
    page.screenshot(path=str(SCREENSHOTS / "chat.png"))
    page.locator("#lr-viewer-column").screenshot(path=str(SCREENSHOTS / "source-page.png"))
    page.locator("#lr-zoom-in").click()
    page.wait_for_function("document.querySelector('#lr-viewer').innerText.includes('150%')")
    assert page.locator("#lr-page-image").bounding_box()["width"] > image["width"] * 1.4
    page.locator("#lr-prev-page").click()
    page.wait_for_function("document.querySelector('#lr-viewer').innerText.includes('page 2 of 3')")
    assert page.locator("#lr-viewer .lr-shade").count() == 0  # the passage is not on page 2
    page.locator("#lr-close-viewer").click()
    page.locator("#lr-sources .lr-source").first.wait_for()
    # A hover on a marker previews its passage.
    marker = page.locator("#lr-chat a[href^='#source-']").first
    marker.hover()
    assert "Skerry Point" in (marker.get_attribute("title") or "")

    page.get_by_role("tab", name="Library").click()
    page.locator("#lr-doc-pick input").click()
    page.get_by_role("option", name="lighthouses.pdf", exact=False).click()
    page.locator("#lr-delete").click()
    page.locator("#lr-delete-confirm").click()  # delete asks first
    page.wait_for_function(
        "!document.querySelector('#lr-documents').innerText.includes('lighthouses.pdf')",
        timeout=60_000)
    assert "Deleted lighthouses.pdf" in page.locator("#lr-library-report").inner_text()

    page.get_by_role("tab", name="Chat").click()
    page.locator("#lr-new-chat").click()
    answer = ask(page, "Who automated the Skerry Point lighthouse?")
    assert "I could not find this in your documents" in answer


def test_document_text_is_shown_as_text_never_run(page, tmp_path):
    pdf = tmp_path / "hostile.pdf"
    write_pdf(pdf, [
        "Quarterly lantern inventory for the Brightwater depot. "
        "<script>window.__pwned = 1</script> <img src=x onerror=\"window.__pwned = 2\"> "
        "![tracker](http://203.0.113.9/pixel.png) [click](javascript:window.__pwned=3) "
        "The Brightwater depot holds 412 brass lanterns. " + prose("lantern stock", 4)],
        title="Brightwater depot")
    assert "✓ hostile.pdf" in upload(page, pdf)
    ask(page, "How many brass lanterns does the Brightwater depot hold? Quote the document.")
    sources = page.locator("#lr-sources").inner_text()
    assert "<script>window.__pwned = 1</script>" in sources  # shown literally
    assert page.evaluate("window.__pwned") is None
    assert page.locator("#lr-sources script, #lr-chat script").count() == 0
    assert page.locator("#lr-sources img, #lr-chat img[src*='203.0.113.9']").count() == 0
    page.screenshot(path=str(SCREENSHOTS / "escaped-document-text.png"))


def test_new_sources_replace_the_old_ones_before_the_first_word(page, tmp_path):
    for name, fact in (("tides.pdf", "The Morrow Bay tide gauge was installed in 1962 by the "
                                     "hydrographer Tomas Reyes."),
                       ("orchard.pdf", "The Kestrel Hill orchard grows 340 pear trees of the "
                                       "Conference variety.")):
        write_pdf(tmp_path / name, [prose("coast and fields"), fact + " " + prose("records", 4)])
        upload(page, tmp_path / name)
        page.wait_for_function(
            "name => document.querySelector('#lr-upload-report').innerText.includes('✓ ' + name)",
            arg=name, timeout=ANSWER_TIMEOUT_MS)
    ask(page, "Who installed the Morrow Bay tide gauge?")
    assert "tides.pdf" in page.locator("#lr-sources").inner_text()
    # Poll what the page shows (sources panel, last message) every 50 ms until the answer ends.
    snapshot = ("() => { const r = document.querySelectorAll('#lr-chat .message-row');"
                " return {t: performance.now(),"
                " sources: document.querySelector('#lr-sources').innerText,"
                " answer: r.length ? r[r.length - 1].innerText : ''}; }")
    box = page.locator("#lr-question textarea")
    box.fill("How many pear trees grow in the Kestrel Hill orchard?")
    old_panel = page.locator("#lr-sources").inner_text()
    old_answer = page.locator("#lr-chat .message-row").last.inner_text()
    started = page.evaluate("performance.now()")
    box.press("Enter")
    log, deadline = [], time.monotonic() + ANSWER_TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        log.append(page.evaluate(snapshot))
        last = log[-1]["answer"].strip()
        if last != old_answer.strip() and len(last) > 3 and not last.endswith("…") \
                and not last.startswith("How many"):
            break
        page.wait_for_timeout(50)
    # The new question is on screen once the last message is no longer the old answer; the new
    # answer's first words are there once it holds more than the "…" placeholder.
    asked = [e for e in log if e["t"] > started and e["answer"] != old_answer
             and not e["answer"].startswith("How many pear")]
    words = [e for e in asked if any(ch.isalnum() for ch in e["answer"])]
    # From the moment the new question is on screen the old answer's sources are not (the
    # panel says it is finding the new ones, or already shows them); the new question's sources
    # come before the answer's first words.
    assert asked and all(e["sources"] != old_panel for e in asked), "old sources stayed on screen"
    new_sources = [e for e in asked if "orchard.pdf" in e["sources"]
                   and "Finding the passages" not in e["sources"]]
    assert new_sources, "the new question's sources never showed"
    assert words, "no answer text arrived"
    assert new_sources[0]["t"] <= words[0]["t"], "the answer began before its sources were shown"
    # The first words are the sources' own sentence (the quote), before the model's answer.
    assert "From your documents" in words[0]["answer"] and "340 pear trees" in words[0]["answer"]


def test_settings_are_saved_and_applied(page, app_url):
    import json

    page.get_by_role("tab", name="Settings").click()
    number = page.locator("#lr-top-k input[type=number]")
    number.fill("2")
    number.press("Enter")
    page.locator("#lr-save-settings").click()
    page.wait_for_function("document.querySelector('#lr-settings-report').innerText.includes('Saved')")
    saved = json.loads((app_url[1] / "data" / "ui-settings.json").read_text())
    assert saved["top_k"] == 2 and saved["llm_backend"] == "llamacpp"
    page.reload()
    page.get_by_role("tab", name="Settings").click()
    assert page.locator("#lr-top-k input[type=number]").input_value() == "2"


def test_keyboard_shift_enter_new_line_enter_sends_esc_stops(page, tmp_path):
    pdf = tmp_path / "beacons.pdf"
    write_pdf(pdf, [prose("harbour beacons"), "The Gull Rock beacon flashes green every four "
                    "seconds. " + prose("beacon upkeep", 4)])
    upload(page, pdf)
    page.get_by_role("tab", name="Chat").click()
    box = page.locator("#lr-question textarea")
    box.fill("How often does the Gull Rock beacon flash?")
    box.press("Shift+Enter")
    box.type("Answer in detail.")
    assert box.input_value() == "How often does the Gull Rock beacon flash?\nAnswer in detail."
    rows = page.locator("#lr-chat .message-row").count()
    box.press("Enter")
    page.wait_for_function("n => document.querySelectorAll('#lr-chat .message-row').length >= n",
                           arg=rows + 2)
    assert box.input_value() == ""  # sent
    page.keyboard.press("Escape")
    page.wait_for_function("() => { const r = document.querySelectorAll('#lr-chat .message-row');"
                           " return r[r.length - 1].innerText.includes('(stopped)'); }",
                           timeout=30_000)
    # Stopped for good: the answer does not go on behind the mark.
    stopped_text = page.locator("#lr-chat .message-row").last.inner_text()
    page.wait_for_timeout(3000)
    assert page.locator("#lr-chat .message-row").last.inner_text() == stopped_text
