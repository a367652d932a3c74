"""The Settings tab: backend, models, sources per answer and temperature, saved for next time.

The embedded model is picked from the installed and the packaged models (a packaged one installs
from here, with progress), the Ollama model from what Ollama lists, and a line says which backend
answers and why.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from app.llm.catalog import CATALOG, EmbeddedModel, embedded_models, model_for_file
from app.ui.render import escape_markdown
from app.ui.shell import Shell
from app.ui.state import AppState, save_ui_settings
from ingest.errors import LocalragError

DEFAULT_TEMPERATURE = 0.1
LLM_FIELDS = ("llm_backend", "gguf", "ollama_model", "temperature")
URL = re.compile(r"https?://[^\s()`'\"]+")


# ---------------------------------------------------------------- what the tab says (pure)


def size_words(size: int) -> str:
    """Bytes in decimal units, as the catalog and pip count them: '1.1 GB', '98 MB'."""
    return f"{size / 1e9:.1f} GB" if size >= 1e9 else f"{size / 1e6:.0f} MB"


def model_label(model: EmbeddedModel) -> str:
    """One line of the model list, e.g. 'qwen2.5-1.5b · installed · 1.1 GB'."""
    size = size_words(model.size)
    if model.state == "installed":
        return f"{model.name} · installed · {size}"
    packages = model.catalog.packages if model.catalog else ()
    source = "PyPI package" if len(packages) == 1 else "PyPI packages"
    if model.state == "incomplete":
        return f"{model.name} · incomplete, install again ({source}, {size})"
    return f"{model.name} · not installed ({source}, {size})"


def model_choices(models: Sequence[EmbeddedModel], current: str,
                  default_name: str) -> list[tuple[str, str]]:
    """The model list as (label, value) pairs: the Modelfile's default, then ``models``, then
    ``current`` when it is a path of its own (so the list always holds what is saved)."""
    choices = [(f"default · {default_name} (the Modelfile's)", "")]
    choices += [(model_label(m), m.value) for m in models]
    if current and current not in {value for _, value in choices}:
        choices.append((f"{Path(current).name} · own file: {current}", current))
    return choices


def find_choice(models: Sequence[EmbeddedModel], value: str) -> EmbeddedModel | None:
    return next((m for m in models if m.value == value), None)


def needs_install(models: Sequence[EmbeddedModel], value: str) -> bool:
    """Whether ``value`` names a packaged model that is not (completely) installed."""
    model = find_choice(models, value)
    return model is not None and model.catalog is not None and model.state != "installed"


def model_note(models: Sequence[EmbeddedModel], value: str) -> str:
    """What the picked model is, and what to do when it is not installed."""
    if not value:
        return "The model the Modelfile names (its FROM line)."
    model = find_choice(models, value)
    if model is None:
        return f"Your own .gguf file: {value}"
    if model.catalog is None:
        return f"A .gguf file in the models folder: {model.value}"
    if model.state == "installed":
        return model.catalog.description
    return (f"{model.catalog.description}. Not installed: press Install to download "
            f"{size_words(model.size)} from PyPI.")


def ollama_line(url: str, names: list[str] | None) -> str:
    """What Ollama's list says: not running, empty, or how many models it has."""
    if names is None:
        return f"Ollama is not running at {url}."
    if not names:
        return f"Ollama at {url} has no models yet (create one: localrag model create NAME)."
    return f"Ollama at {url} has {len(names)} model(s)."


def ollama_choices(names: list[str] | None, current: str) -> list[str]:
    """Ollama's models, with the saved one kept in the list even when Ollama lacks it."""
    listed = list(names or [])
    return listed if not current or current in listed else [*listed, current]


def embedded_model_name(path: str) -> str:
    """The catalog name of a GGUF path, else its file name."""
    model = model_for_file(Path(path))
    return model.name if model else Path(path).name


def active_backend_sentence(llm: Any | None, problem: str = "") -> str:
    """Which backend and model answer, and why, e.g. 'Active: embedded llama.cpp ·
    qwen2.5-1.5b (auto chose it: Ollama is not reachable at http://127.0.0.1:11434 ...)'.

    Args:
        llm: The open ``ChatBackend``, or None when none could be opened.
        problem: Why none could be opened.
    """
    if llm is None:
        return f"Active: none · the language model is not available: {problem or 'not loaded'}"
    if llm.name == "llamacpp":
        what = f"embedded llama.cpp · {embedded_model_name(llm.model)}"
    elif llm.name == "openai":
        what = (f"OpenAI-compatible server · {llm.model} at {llm.details.get('url', '?')} "
                "(your passages are sent there)")
    else:
        what = f"Ollama · {llm.model} at {llm.details.get('url', '?')}"
    auto_reason = llm.details.get("auto_reason")
    why = f"auto chose it: {auto_reason}" if auto_reason else f"backend set to {llm.name}"
    return f"Active: {what} ({why})"


def markdown_line(text: str) -> str:
    """``text`` for a Markdown block, shown as written: escaped, its URLs in code spans (the
    renderer would link a URL with the escapes' backslashes in it)."""
    out, last = [], 0
    for match in URL.finditer(text):
        url = match.group().rstrip(".,;:")
        out += [escape_markdown(text[last:match.start()]), f"`{url}`"]
        last = match.start() + len(url)
    out.append(escape_markdown(text[last:]))
    return "".join(out)


def one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


# ---------------------------------------------------------------- the tab


class SettingsPage:
    """Owns the Settings blocks and their events."""

    def __init__(self, state: AppState, shell: Shell) -> None:
        self.state = state
        self.shell = shell
        # One install at a time, whichever browser asks: two would write the same .partial file.
        self._install_lock = threading.Lock()

    def build(self) -> None:
        import gradio as gr

        s = self.state.settings
        self.active = gr.Markdown(elem_id="lr-active-backend")
        self.backend_pick = gr.Radio(["auto", "ollama", "llamacpp", "openai"],
                                     value=s.llm_backend,
                                     label="Language model backend", elem_id="lr-backend",
                                     info="auto: Ollama when it answers and has the model, "
                                          "otherwise the embedded model; openai: the server at "
                                          "LOCALRAG_OPENAI_URL (your passages are sent there)")
        with gr.Row():
            self.model_pick = gr.Dropdown(
                label="Embedded model (llama.cpp)", allow_custom_value=True, scale=4,
                info="installed and packaged models; or type the path of a .gguf file",
                elem_id="lr-model-pick")
            with gr.Column(scale=1, min_width=140):
                self.install_button = gr.Button("Install", interactive=False, size="md",
                                                elem_id="lr-install-model")
                self.refresh_button = gr.Button("Refresh lists", size="md",
                                                elem_id="lr-refresh-models")
        self.model_info = gr.Markdown(elem_id="lr-model-note")
        # Room for the progress bar Gradio draws over it while a model installs.
        self.install_report = gr.Markdown(elem_id="lr-install-report", min_height=48)
        self.ollama_pick = gr.Dropdown(label="Ollama model", allow_custom_value=True,
                                       elem_id="lr-ollama-pick")
        self.ollama_info = gr.Markdown(elem_id="lr-ollama-note")
        self.top_k = gr.Slider(1, 12, value=s.top_k, step=1, label="Sources per answer",
                               elem_id="lr-top-k")
        self.temperature = gr.Slider(0, 1.5, value=s.temperature if s.temperature is not None
                                     else DEFAULT_TEMPERATURE, step=0.05, label="Temperature")
        self.save = gr.Button("Save", variant="primary", elem_id="lr-save-settings")
        self.report = gr.Markdown(elem_id="lr-settings-report")

    # ------------------------------------------------------------ reading the state

    def models(self) -> list[EmbeddedModel]:
        return embedded_models(self.state.settings.models_dir)

    def default_model_name(self) -> str:
        """The model an empty ``gguf`` setting runs: the Modelfile's FROM."""
        from app.llm.backends import find_modelfile, resolve_gguf
        from app.llm.modelfile import read_modelfile

        settings = self.state.settings.model_copy(update={"gguf": ""})
        try:
            path = resolve_gguf(settings, read_modelfile(find_modelfile(settings.modelfile)))
        except LocalragError as err:
            return f"none ({one_line(err)})"
        return embedded_model_name(str(path))

    def active_line(self) -> str:
        llm = self.state.chain.llm if self.state.chain else None
        sentence = active_backend_sentence(llm, self.state.llm_problem)
        return "**Active:** " + markdown_line(sentence.removeprefix("Active: "))

    def model_widgets(self, value: str, models: list[EmbeddedModel] | None = None) -> Any:
        """Updates of the model list (picking ``value``), its note and the Install button."""
        import gradio as gr

        models = self.models() if models is None else models
        choices = model_choices(models, value, self.default_model_name())
        return (gr.update(choices=choices, value=value),
                markdown_line(model_note(models, value)),
                gr.update(interactive=needs_install(models, value)))

    def ollama_widgets(self, value: str) -> Any:
        """Updates of the Ollama list and its line; asks Ollama with a short timeout."""
        import gradio as gr

        from app.llm.backends import ollama_models

        url = self.state.settings.ollama_url
        names = ollama_models(url)
        return (gr.update(choices=ollama_choices(names, value), value=value),
                markdown_line(ollama_line(url, names)))

    # ------------------------------------------------------------ events

    def on_pick(self, value: str | None) -> Any:
        """A model was picked (or typed): say what it is, and offer Install when it needs it."""
        import gradio as gr

        models, value = self.models(), (value or "").strip()
        return (markdown_line(model_note(models, value)),
                gr.update(interactive=needs_install(models, value)))

    def install_model(self, value: str | None, on_status: Callable[[str], None],
                      on_progress: Callable[[int, int], None]) -> str:
        """Install the packaged model ``value`` as `localrag models install` does.

        Returns:
            One line for the page: done, or why not.
        """
        from app.llm.catalog import install, installed_state

        model = CATALOG.get((value or "").strip())
        if model is None:
            return "Pick a packaged model marked 'not installed' to install it."
        models_dir = self.state.settings.models_dir
        if installed_state(model, models_dir) == "installed":
            return f"{model.name} is already installed."
        if not self._install_lock.acquire(blocking=False):
            return "Another model is being installed: wait until it is done."
        try:
            install(model, models_dir, on_status, on_progress)
        except (LocalragError, OSError) as err:
            return f"✗ Could not install {model.name}: {one_line(err)}"
        finally:
            self._install_lock.release()
        return f"✓ Installed {model.name} (sha256 verified). Press Save to use it."

    def on_install(self, value: str | None, progress: Any) -> Any:
        def status(message: str) -> None:
            progress(0, desc=message)

        def assembled(done: int, total: int) -> None:
            progress(done / total, desc=f"assembling and verifying: {done / 1e6:,.0f} of "
                                        f"{total / 1e6:,.0f} MB")

        message = self.install_model(value, status, assembled)
        return (markdown_line(message), *self.model_widgets((value or "").strip()))

    def on_refresh(self, value: str | None, ollama_value: str | None) -> Any:
        return (*self.model_widgets((value or "").strip()),
                *self.ollama_widgets((ollama_value or "").strip()), self.active_line())

    def on_save(self, backend: str, gguf: str | None, ollama_model: str | None, k: float,
                temp: float) -> Any:
        import gradio as gr

        state = self.state
        gguf, ollama_model = (gguf or "").strip(), (ollama_model or "").strip()
        if needs_install(self.models(), gguf):
            # Opening it would install it in the request, minutes with nothing on screen.
            return (f"Not saved: {escape_markdown(gguf)} is not installed yet, press Install "
                    "first.", gr.skip(), gr.skip(), gr.skip())
        before = state.settings
        state.settings = before.model_copy(update={
            "llm_backend": backend, "gguf": gguf, "ollama_model": ollama_model,
            "top_k": int(k), "temperature": float(temp)})
        save_ui_settings(state.settings)
        changed_llm = any(getattr(before, f) != getattr(state.settings, f) for f in LLM_FIELDS)
        if changed_llm or state.chain is None:
            state.open_chain()
        if state.chain is not None:
            state.chain.k = int(k)
        message = "Saved." if not state.llm_problem else \
            markdown_line(f"Saved, but the model is not available: {state.llm_problem}")
        return message, state.banner_text(), state.status_text(), self.active_line()

    def current(self) -> Any:
        """Every widget's value as saved, the model list as it is now, and the active line."""
        s = self.state.settings
        return (s.llm_backend, *self.model_widgets(s.gguf), s.top_k,
                s.temperature if s.temperature is not None else DEFAULT_TEMPERATURE,
                self.active_line())

    def register_events(self, ui: Any) -> None:
        import gradio as gr

        shell = self.shell
        model_outputs = [self.model_pick, self.model_info, self.install_button]
        ollama_outputs = [self.ollama_pick, self.ollama_info]

        def on_install(value: str | None,
                       progress: gr.Progress = gr.Progress()) -> Any:  # noqa: B008 (Gradio injects it)
            return self.on_install(value, progress)

        self.model_pick.change(self.on_pick, self.model_pick,
                               [self.model_info, self.install_button], show_progress="hidden")
        self.install_button.click(on_install, self.model_pick,
                                  [self.install_report, *model_outputs],
                                  show_progress_on=self.install_report)
        self.refresh_button.click(self.on_refresh, [self.model_pick, self.ollama_pick],
                                  [*model_outputs, *ollama_outputs, self.active])
        fields = [self.backend_pick, self.model_pick, self.ollama_pick, self.top_k,
                  self.temperature]
        self.save.click(self.on_save, fields,
                        [self.report, shell.banner, shell.status, self.active])
        ui.load(self.current, None,
                [self.backend_pick, *model_outputs, self.top_k, self.temperature, self.active])
        # Apart: the other values need not wait for Ollama's answer (or its timeout).
        ui.load(lambda: self.ollama_widgets(self.state.settings.ollama_model), None,
                ollama_outputs, show_progress="hidden")
