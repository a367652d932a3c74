"""The Library tab: upload, list, delete and re-index documents; the watch folder's activity."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.ui.render import DOCUMENT_COLUMNS, documents_rows, escape_markdown
from app.ui.shell import Shell
from app.ui.state import AppState
from ingest.errors import LocalragError

ACTIVITY_POLL_S = 2.0


class LibraryPage:
    """Owns the library blocks and their events; every write goes through the Library."""

    def __init__(self, state: AppState, shell: Shell) -> None:
        self.state = state
        self.shell = shell
        self._seen_version = -1

    def build(self) -> None:
        import gradio as gr

        library = self.state.library
        self.uploads = gr.File(label="Add PDFs (drop several at once)", file_count="multiple",
                               file_types=[".pdf"], elem_id="lr-upload")
        self.upload_report = gr.Markdown(elem_id="lr-upload-report")
        self.documents_table = gr.Dataframe(headers=DOCUMENT_COLUMNS,
                                            value=documents_rows(library.documents()),
                                            interactive=False, elem_id="lr-documents", wrap=True)
        with gr.Row():
            self.document_pick = gr.Dropdown(label="Document", choices=[], elem_id="lr-doc-pick")
            self.delete = gr.Button("Delete", variant="stop", elem_id="lr-delete")
            self.reindex = gr.Button("Re-index", elem_id="lr-reindex")
        self.library_report = gr.Markdown(elem_id="lr-library-report")
        self.activity = gr.Textbox(label="Activity (uploads, watch folder)", lines=8,
                                   interactive=False, elem_id="lr-activity")

    def document_choices(self) -> Any:
        import gradio as gr

        docs = self.state.library.documents()
        return gr.update(choices=[(f"{d.name} ({d.doc_id[:8]})", d.doc_id) for d in docs],
                         value=None)

    def on_upload(self, files: list[Any] | None, progress: Any) -> Any:
        from app.ui.uploads import store_upload

        state, library = self.state, self.state.library
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
        return ("\n".join(lines), documents_rows(library.documents()), self.document_choices(),
                None, state.banner_text(), state.status_text())

    def on_delete(self, doc_id: str | None) -> Any:
        import gradio as gr

        state = self.state
        if not doc_id:
            return "Choose a document first.", gr.skip(), gr.skip(), gr.skip(), gr.skip()
        try:
            doc = state.library.remove(doc_id, source="ui")
            for path in doc.paths:  # files the app keeps itself are deleted with the document
                if Path(path).parent == state.settings.uploads_dir.resolve():
                    Path(path).unlink(missing_ok=True)
            message = f"Deleted {escape_markdown(doc.name)}."
        except LocalragError as err:
            message = f"✗ {escape_markdown(str(err))}"
        return (message, documents_rows(state.library.documents()), self.document_choices(),
                state.banner_text(), state.status_text())

    def on_reindex(self, doc_id: str | None) -> Any:
        import gradio as gr

        library = self.state.library
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

    def tick(self) -> Any:
        """The activity log, and the table when the library changed (uploads, watch folder)."""
        import gradio as gr

        library = self.state.library
        text = "\n".join(reversed(library.activity))
        if library.version == self._seen_version:
            return text, gr.skip(), gr.skip(), gr.skip()
        self._seen_version = library.version
        return (text, documents_rows(library.documents()), self.state.banner_text(),
                self.state.status_text())

    def register_events(self, ui: Any) -> None:
        import gradio as gr

        shell = self.shell

        def on_upload(files: list[Any] | None,
                      progress: gr.Progress = gr.Progress()) -> Any:  # noqa: B008 (Gradio injects it)
            return self.on_upload(files, progress)

        self.uploads.upload(on_upload, self.uploads,
                            [self.upload_report, self.documents_table, self.document_pick,
                             self.uploads, shell.banner, shell.status])
        self.delete.click(self.on_delete, self.document_pick,
                          [self.library_report, self.documents_table, self.document_pick,
                           shell.banner, shell.status])
        self.reindex.click(self.on_reindex, self.document_pick,
                           [self.library_report, self.documents_table])
        gr.Timer(ACTIVITY_POLL_S).tick(self.tick, None,
                                       [self.activity, self.documents_table, shell.banner,
                                        shell.status], show_progress="hidden")
        library = self.state.library
        ui.load(lambda: (documents_rows(library.documents()), self.document_choices(),
                         self.state.banner_text(), self.state.status_text()),
                None, [self.documents_table, self.document_pick, shell.banner, shell.status])
