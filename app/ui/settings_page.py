"""The Settings tab: backend, models, sources per answer and temperature, saved for next time."""

from __future__ import annotations

from typing import Any

from app.ui.render import escape_markdown
from app.ui.shell import Shell
from app.ui.state import AppState, save_ui_settings

DEFAULT_TEMPERATURE = 0.1
LLM_FIELDS = ("llm_backend", "gguf", "ollama_model", "temperature")


class SettingsPage:
    def __init__(self, state: AppState, shell: Shell) -> None:
        self.state = state
        self.shell = shell

    def build(self) -> None:
        import gradio as gr

        s = self.state.settings
        self.backend_pick = gr.Radio(["auto", "ollama", "llamacpp"], value=s.llm_backend,
                                     label="Language model backend")
        self.gguf_box = gr.Textbox(value=s.gguf, label="Embedded model (catalog name "
                                   "or .gguf path; empty: the Modelfile's)")
        self.ollama_box = gr.Textbox(value=s.ollama_model, label="Ollama model")
        self.top_k = gr.Slider(1, 12, value=s.top_k, step=1, label="Sources per answer",
                               elem_id="lr-top-k")
        self.temperature = gr.Slider(0, 1.5, value=s.temperature if s.temperature is not None
                                     else DEFAULT_TEMPERATURE, step=0.05, label="Temperature")
        self.save = gr.Button("Save", variant="primary", elem_id="lr-save-settings")
        self.report = gr.Markdown(elem_id="lr-settings-report")

    def on_save(self, backend: str, gguf: str, ollama_model: str, k: float, temp: float) -> Any:
        state = self.state
        before = state.settings
        state.settings = before.model_copy(update={
            "llm_backend": backend, "gguf": gguf.strip(), "ollama_model": ollama_model.strip(),
            "top_k": int(k), "temperature": float(temp)})
        save_ui_settings(state.settings)
        changed_llm = any(getattr(before, f) != getattr(state.settings, f) for f in LLM_FIELDS)
        if changed_llm or state.chain is None:
            state.open_chain()
        if state.chain is not None:
            state.chain.k = int(k)
        message = "Saved." if not state.llm_problem else \
            f"Saved, but the model is not available: {escape_markdown(state.llm_problem)}"
        return message, state.banner_text(), state.status_text()

    def current(self) -> Any:
        s = self.state.settings
        return (s.llm_backend, s.gguf, s.ollama_model, s.top_k,
                s.temperature if s.temperature is not None else DEFAULT_TEMPERATURE)

    def register_events(self, ui: Any) -> None:
        fields = [self.backend_pick, self.gguf_box, self.ollama_box, self.top_k, self.temperature]
        self.save.click(self.on_save, fields, [self.report, self.shell.banner, self.shell.status])
        ui.load(self.current, None, fields)
