"""The browser UI (Gradio Blocks): chat with cited answers, sources with the page image,
the library (upload, list, delete, re-index, watch activity), status and settings."""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.chain import RagChain
from app.library import Library
from app.prompting import Message, Source, resolve_citations
from app.ui_render import (
    DOCUMENT_COLUMNS,
    answer_markdown,
    banner,
    context_line,
    documents_rows,
    escape_markdown,
    sources_html,
    status_markdown,
)
from ingest.errors import LocalragError
from ingest.settings import Settings

log = logging.getLogger(__name__)
UI_SETTINGS = ("llm_backend", "gguf", "ollama_model", "top_k", "temperature")

CSS = """
.lr-source { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 8px;
  margin-bottom: 8px; }
.lr-source.lr-cited { border-color: var(--color-accent); }
.lr-source-head { font-size: 0.9em; margin-bottom: 4px; }
.lr-page, .lr-score { color: var(--body-text-color-subdued); margin-left: 6px; }
.lr-passage { font-size: 0.9em; white-space: pre-wrap; max-height: 14em; overflow-y: auto; }
.lr-passage mark { background: #ffe58a; }
#lr-banner p { color: #b45309; font-weight: 600; }
"""


@dataclass
class AppState:
    """What all browser sessions share: the library (index owner) and the answering chain."""

    settings: Settings
    library: Library
    chain: RagChain | None = None
    llm_problem: str = ""
    _llm_lock: threading.Lock = field(default_factory=threading.Lock)

    def open_chain(self, on_status: Any = lambda _: None) -> None:
        from app.components import open_chain

        with self._llm_lock:
            try:
                # Searches go through the library: the owner's own client sees its writes.
                self.chain = open_chain(self.settings, on_status, retriever=self.library)
            except LocalragError as err:
                self.chain, self.llm_problem = None, str(err)
                log.warning("LLM not available: %s", err)
                return
            self.llm_problem = ""

    def gpu_line(self) -> str:
        if self.chain is None:
            return "-"
        details = self.chain.llm.details
        if "gpu_offload_supported" in details:
            if not details["gpu_offload_supported"]:
                return "CPU only (llama.cpp built without GPU support)"
            return f"{details.get('gpu_layers', 0)} layers offloaded"
        return f"num_gpu {details.get('num_gpu')}"


def load_ui_settings(settings: Settings) -> Settings:
    """Apply what the Settings tab saved last time."""
    path = settings.ui_settings_path
    if not path.exists():
        return settings
    try:
        saved = {k: v for k, v in json.loads(path.read_text()).items() if k in UI_SETTINGS}
        return Settings(**{**settings.model_dump(), **saved})
    except (ValueError, TypeError) as err:
        log.warning("ignoring %s: %s", path, err)
        return settings


def save_ui_settings(settings: Settings) -> None:
    values = {k: getattr(settings, k) for k in UI_SETTINGS}
    settings.ui_settings_path.parent.mkdir(parents=True, exist_ok=True)
    settings.ui_settings_path.write_text(json.dumps(values, indent=1))


def _source_payload(sources: list[Source]) -> list[dict[str, Any]]:
    return [{"number": s.number, "file": s.file, "path": s.path, "page": s.page, "text": s.text}
            for s in sources]


def _source_choices(payload: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return [(f"[{s['number']}] {s['file']} p.{s['page'] + 1}", s["number"]) for s in payload]


def build_ui(state: AppState) -> Any:
    """The Blocks app (gradio is imported here: the command line never pays for it)."""
    import gradio as gr

    library = state.library

    def status_text(last_context: str = "") -> str:
        llm = state.chain.llm if state.chain else None
        return status_markdown(llm.name if llm else "none", Path(llm.model).name if llm else "-",
                               state.gpu_line(), len(library.documents()), library.chunk_total(),
                               last_context)

    def banner_text() -> str:
        return banner(state.llm_problem, len(library.documents()))

    with gr.Blocks(title="localrag") as ui:
        gr.Markdown("## localrag · chat with your PDFs, offline")
        banner_md = gr.Markdown(banner_text(), elem_id="lr-banner")
        history_state = gr.State([])  # the conversation as (role, text) for the chain
        sources_state = gr.State([])
        with gr.Tab("Chat"):
            with gr.Row():
                with gr.Column(scale=3):
                    chatbot = gr.Chatbot(label="Conversation", height=480, elem_id="lr-chat",
                                         sanitize_html=True, feedback_options=None)
                    question = gr.Textbox(placeholder="Ask about your documents and press Enter",
                                          show_label=False, elem_id="lr-question")
                    with gr.Row():
                        send = gr.Button("Send", variant="primary", elem_id="lr-send")
                        stop = gr.Button("Stop", elem_id="lr-stop")
                        new_chat = gr.Button("New chat", elem_id="lr-new-chat")
                with gr.Column(scale=2):
                    sources_view = gr.HTML("<p class='lr-empty'>Sources appear here.</p>",
                                           elem_id="lr-sources")
                    source_pick = gr.Radio([], label="Show the page of source", elem_id="lr-pick")
                    page_view = gr.Image(label="Page", elem_id="lr-page", interactive=False,
                                         type="pil", height=520)
            status_md = gr.Markdown(status_text(), elem_id="lr-status")

        with gr.Tab("Library"):
            uploads = gr.File(label="Add PDFs (drop several at once)", file_count="multiple",
                              file_types=[".pdf"], elem_id="lr-upload")
            upload_report = gr.Markdown(elem_id="lr-upload-report")
            documents_table = gr.Dataframe(headers=DOCUMENT_COLUMNS,
                                           value=documents_rows(library.documents()),
                                           interactive=False, elem_id="lr-documents", wrap=True)
            with gr.Row():
                document_pick = gr.Dropdown(label="Document", choices=[], elem_id="lr-doc-pick")
                delete = gr.Button("Delete", variant="stop", elem_id="lr-delete")
                reindex = gr.Button("Re-index", elem_id="lr-reindex")
            library_report = gr.Markdown(elem_id="lr-library-report")
            activity = gr.Textbox(label="Activity (uploads, watch folder)", lines=8,
                                  interactive=False, elem_id="lr-activity")

        with gr.Tab("Settings"):
            backend_pick = gr.Radio(["auto", "ollama", "llamacpp"], value=state.settings.llm_backend,
                                    label="Language model backend")
            gguf_box = gr.Textbox(value=state.settings.gguf, label="Embedded model (catalog name "
                                  "or .gguf path; empty: the Modelfile's)")
            ollama_box = gr.Textbox(value=state.settings.ollama_model, label="Ollama model")
            top_k = gr.Slider(1, 12, value=state.settings.top_k, step=1, label="Sources per answer",
                              elem_id="lr-top-k")
            temperature = gr.Slider(0, 1.5, value=state.settings.temperature
                                    if state.settings.temperature is not None else 0.1,
                                    step=0.05, label="Temperature")
            save = gr.Button("Save", variant="primary", elem_id="lr-save-settings")
            settings_report = gr.Markdown(elem_id="lr-settings-report")

        # -- chat -----------------------------------------------------------------------------
        def respond(message: str, chat: list[dict[str, Any]], history: list[Message]) -> Any:
            message = (message or "").strip()
            if not message:
                return
            chat = [*chat, {"role": "user", "content": escape_markdown(message)},
                    {"role": "assistant", "content": "…"}]
            yield chat, history, gr.skip(), gr.skip(), gr.skip(), ""
            if state.chain is None:
                chat[-1]["content"] = escape_markdown(
                    f"The language model is not available: {state.llm_problem}")
                yield chat, history, gr.skip(), gr.skip(), gr.skip(), ""
                return
            shown, numbers = "", set()
            try:
                for event in state.chain.stream(message, [tuple(m) for m in history]):
                    if event.kind == "token":
                        shown += event.text
                        chat[-1]["content"] = answer_markdown(shown, numbers or set(range(1, 50)))
                        yield chat, history, gr.skip(), gr.skip(), gr.skip(), ""
                    elif event.kind == "done" and event.answer is not None:
                        answer = event.answer
                        numbers = {s.number for s in answer.sources}
                        text = answer.text
                        if answer.standalone_question != message:
                            text += f"\n\n(searched for: {answer.standalone_question})"
                        chat[-1]["content"] = answer_markdown(text, numbers)
                        plain = resolve_citations(answer.text, []).text
                        history = [*history, ("user", message), ("assistant", plain)][-20:]
                        payload = _source_payload(answer.sources)
                        context = context_line(answer.prompt_tokens, state.chain.llm.num_ctx) \
                            if answer.prompt_tokens else ""
                        yield (chat, history,
                               sources_html(answer.sources, answer.standalone_question,
                                            {s.number for s in answer.cited}),
                               gr.update(choices=_source_choices(payload), value=None),
                               payload, status_text(context))
            except LocalragError as err:
                chat[-1]["content"] = escape_markdown(f"⚠️ {err}")
                yield chat, history, gr.skip(), gr.skip(), gr.skip(), ""
            except Exception as err:  # never a stack trace in the page
                log.exception("answer failed")
                chat[-1]["content"] = escape_markdown(f"⚠️ unexpected error: {type(err).__name__}: {err}")
                yield chat, history, gr.skip(), gr.skip(), gr.skip(), ""

        outputs = [chatbot, history_state, sources_view, source_pick, sources_state, status_md]
        asked = gr.State("")  # the question, kept while the box is cleared for the next one
        submit = question.submit(lambda q: (q, ""), question, [asked, question], queue=False).then(
            respond, [asked, chatbot, history_state], outputs)
        click = send.click(lambda q: (q, ""), question, [asked, question], queue=False).then(
            respond, [asked, chatbot, history_state], outputs)
        stop.click(None, None, None, cancels=[submit, click])
        new_chat.click(lambda: ([], [], "<p class='lr-empty'>Sources appear here.</p>",
                                gr.update(choices=[], value=None), [], None),
                       None, [chatbot, history_state, sources_view, source_pick, sources_state,
                              page_view], cancels=[submit, click])

        def show_page(number: int | None, payload: list[dict[str, Any]]) -> Any:
            from app.page_image import render_page

            chosen = next((s for s in payload if s["number"] == number), None)
            if chosen is None:
                return None
            try:
                return render_page(Path(chosen["path"]), chosen["page"], chosen["text"])
            except Exception as err:
                gr.Warning(f"cannot show the page: {err}")
                return None

        source_pick.change(show_page, [source_pick, sources_state], page_view)

        # -- library --------------------------------------------------------------------------
        def document_choices() -> Any:
            docs = library.documents()
            return gr.update(choices=[(f"{d.name} ({d.doc_id[:8]})", d.doc_id) for d in docs],
                             value=None)

        def on_upload(files: list[Any] | None,
                      progress: gr.Progress = gr.Progress()) -> Any:  # noqa: B008 (Gradio injects it)
            from app.uploads import store_upload

            lines, stored = [], []
            for f in files or []:
                original = Path(getattr(f, "orig_name", None) or Path(str(f)).name).name
                try:
                    stored.append(store_upload(Path(str(f)), original, state.settings.uploads_dir,
                                               state.settings.upload_max_mb * 1_000_000))
                except LocalragError as err:
                    lines.append(f"- ✗ {escape_markdown(str(err))}")
            for i, path in enumerate(stored):
                progress((i, len(stored)), desc=f"indexing {path.name}")
                for r in library.ingest([path], source="upload"):
                    detail = r.reason if r.failed else f"{r.outcome}: {r.pages} pages, {r.chunks} chunks"
                    if r.problems and not r.failed:
                        detail += " (" + "; ".join(r.problems) + ")"
                    lines.append(f"- {'✗' if r.failed else '✓'} {escape_markdown(path.name)}: "
                                 f"{escape_markdown(detail or '')}")
            return ("\n".join(lines), documents_rows(library.documents()), document_choices(),
                    None, banner_text(), status_text())

        uploads.upload(on_upload, uploads, [upload_report, documents_table, document_pick, uploads,
                                            banner_md, status_md])

        def on_delete(doc_id: str | None) -> Any:
            if not doc_id:
                return "Choose a document first.", gr.skip(), gr.skip(), gr.skip(), gr.skip()
            try:
                doc = library.remove(doc_id, source="ui")
                for path in doc.paths:  # files the app keeps itself are deleted with the document
                    if Path(path).parent == state.settings.uploads_dir.resolve():
                        Path(path).unlink(missing_ok=True)
                message = f"Deleted {escape_markdown(doc.name)}."
            except LocalragError as err:
                message = f"✗ {escape_markdown(str(err))}"
            return (message, documents_rows(library.documents()), document_choices(), banner_text(),
                    status_text())

        delete.click(on_delete, document_pick,
                     [library_report, documents_table, document_pick, banner_md, status_md])

        def on_reindex(doc_id: str | None) -> Any:
            if not doc_id:
                return "Choose a document first.", gr.skip()
            doc = next((d for d in library.documents() if d.doc_id == doc_id), None)
            if doc is None or not doc.paths:
                return "That document has no file to read again.", gr.skip()
            paths = [Path(p) for p in doc.paths if Path(p).exists()]
            if not paths:
                return "Its file is gone: delete the document instead.", gr.skip()
            library.remove(doc_id, source="re-index")
            results = library.ingest(paths[:1], retry_failed=True, source="re-index")
            r = results[0]
            message = f"✗ {r.reason}" if r.failed else f"Re-indexed: {r.pages} pages, {r.chunks} chunks."
            return escape_markdown(message), documents_rows(library.documents())

        reindex.click(on_reindex, document_pick, [library_report, documents_table])

        seen = {"version": -1}

        def tick() -> Any:
            text = "\n".join(reversed(library.activity))
            if library.version == seen["version"]:
                return text, gr.skip(), gr.skip(), gr.skip()
            seen["version"] = library.version
            return text, documents_rows(library.documents()), banner_text(), status_text()

        gr.Timer(2.0).tick(tick, None, [activity, documents_table, banner_md, status_md],
                           show_progress="hidden")
        ui.load(lambda: (documents_rows(library.documents()), document_choices(), banner_text(),
                         status_text()),
                None, [documents_table, document_pick, banner_md, status_md])

        # -- settings -------------------------------------------------------------------------
        def on_save(backend: str, gguf: str, ollama_model: str, k: float, temp: float) -> Any:
            before = state.settings
            state.settings = before.model_copy(update={
                "llm_backend": backend, "gguf": gguf.strip(), "ollama_model": ollama_model.strip(),
                "top_k": int(k), "temperature": float(temp)})
            save_ui_settings(state.settings)
            changed_llm = any(getattr(before, f) != getattr(state.settings, f)
                              for f in ("llm_backend", "gguf", "ollama_model", "temperature"))
            if changed_llm or state.chain is None:
                state.open_chain()
            if state.chain is not None:
                state.chain.k = int(k)
            message = "Saved." if not state.llm_problem else \
                f"Saved, but the model is not available: {escape_markdown(state.llm_problem)}"
            return message, banner_text(), status_text()

        save.click(on_save, [backend_pick, gguf_box, ollama_box, top_k, temperature],
                   [settings_report, banner_md, status_md])

        def current_settings() -> Any:
            s = state.settings
            return (s.llm_backend, s.gguf, s.ollama_model, s.top_k,
                    s.temperature if s.temperature is not None else 0.1)

        ui.load(current_settings, None, [backend_pick, gguf_box, ollama_box, top_k, temperature])
    return ui
