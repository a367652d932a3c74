"""The Library tab: upload, search and page through the documents, delete (after a confirmation)
and re-index them; the files that could not be read, apart, with Retry; the watch folder's
activity.

Only one page of rows (and of picker choices) goes to the browser, and only that page is read
from the registry (the search and the paging run in SQL), so the tab stays fast with 10,000
documents.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.ui.render import (
    DOCUMENT_COLUMNS,
    FAILED_COLUMNS,
    LIBRARY_PER_PAGE,
    count_line,
    document_label,
    documents_rows,
    escape_markdown,
    failed_rows,
    page_line,
    upload_line,
    upload_summary,
)
from app.ui.shell import Shell
from app.ui.state import AppState
from ingest.errors import LocalragError
from ingest.registry import FAILED, INDEXED, Document

ACTIVITY_POLL_S = 2.0


@dataclass(frozen=True)
class ConfirmRow:
    """A hidden row asking "are you sure?", and the document id waiting for the answer."""

    row: Any
    question: Any
    yes: Any
    no: Any
    pending: Any


def confirm_row(prefix: str, yes_label: str) -> ConfirmRow:
    """The hidden question row; its elements' ids start with ``prefix``."""
    import gradio as gr

    with gr.Row(visible=False, elem_id=f"{prefix}-row") as row:
        question = gr.Markdown(elem_id=f"{prefix}-question")
        yes = gr.Button(yes_label, variant="stop", elem_id=f"{prefix}-confirm", scale=0)
        no = gr.Button("Cancel", elem_id=f"{prefix}-cancel", scale=0)
    return ConfirmRow(row, question, yes, no, gr.State(None))


def _choices(documents: list[Document]) -> list[tuple[str, str]]:
    return [(f"{document_label(d)} · {d.doc_id[:8]}", d.doc_id) for d in documents]


class LibraryPage:
    """Owns the library blocks and their events; every write goes through the Library."""

    def __init__(self, state: AppState, shell: Shell) -> None:
        self.state = state
        self.shell = shell

    def build(self) -> None:
        import gradio as gr

        self.uploads = gr.File(label="Add PDFs (drop several at once)", file_count="multiple",
                               file_types=[".pdf"], elem_id="lr-upload")
        self.upload_report = gr.Markdown(elem_id="lr-upload-report")
        self.count = gr.Markdown(elem_id="lr-library-count")
        self.search = gr.Textbox(label="Search", placeholder="title or file name", max_lines=1,
                                 elem_id="lr-library-search")
        self.documents_table = gr.Dataframe(headers=DOCUMENT_COLUMNS, value=[],
                                            interactive=False, elem_id="lr-documents", wrap=True)
        with gr.Row(equal_height=True):
            self.previous = gr.Button("◀ Previous", size="sm", scale=0, elem_id="lr-page-previous")
            self.page_label = gr.Markdown(elem_id="lr-page-label")
            self.next = gr.Button("Next ▶", size="sm", scale=0, elem_id="lr-page-next")
        with gr.Row():
            self.document_pick = gr.Dropdown(label="Document (on this page, or click its row)",
                                             choices=[], elem_id="lr-doc-pick")
            self.delete = gr.Button("Delete", variant="stop", elem_id="lr-delete")
            self.reindex = gr.Button("Re-index", elem_id="lr-reindex")
        self.delete_confirm = confirm_row("lr-delete", "Confirm")
        self.library_report = gr.Markdown(elem_id="lr-library-report")
        with gr.Column(visible=False, elem_id="lr-failed-section") as self.failed_section:
            self.failed_heading = gr.Markdown(elem_id="lr-failed-heading")
            self.failed_table = gr.Dataframe(headers=FAILED_COLUMNS, value=[], interactive=False,
                                             elem_id="lr-failed", wrap=True)
            with gr.Row():
                self.failed_pick = gr.Dropdown(label="File", choices=[], elem_id="lr-failed-pick")
                self.retry = gr.Button("Retry", elem_id="lr-retry")
                self.remove_failed = gr.Button("Remove", elem_id="lr-failed-remove")
            self.remove_confirm = confirm_row("lr-failed-remove", "Remove")
            self.failed_report = gr.Markdown(elem_id="lr-failed-report")
        self.activity = gr.Textbox(label="Activity (uploads, watch folder)", lines=8,
                                   interactive=False, elem_id="lr-activity")
        self.page = gr.State(0)  # per browser session, like the search text
        self.seen_version = gr.State(-1)

    # -- the view: one page of documents, the failed files, the counts -------------------------
    def view_outputs(self) -> list[Any]:
        return [self.count, self.documents_table, self.page_label, self.page, self.document_pick,
                self.failed_section, self.failed_heading, self.failed_table, self.failed_pick,
                self.shell.banner, self.shell.status]

    def view_inputs(self) -> list[Any]:
        return [self.search, self.page, self.document_pick, self.failed_pick]

    def view(self, query: str | None, page: int, picked: str | None = None,
             failed_picked: str | None = None) -> tuple[Any, ...]:
        """Everything the tab shows about the library, for ``view_outputs``; a pick stays
        picked while its document is still listed."""
        import gradio as gr

        state, library, query = self.state, self.state.library, query or ""
        counts = library.status_counts()
        shown = library.documents_page(INDEXED, query, page, LIBRARY_PER_PAGE)
        failed_shown = library.documents_page(FAILED, query, 0, LIBRARY_PER_PAGE)
        choices, failed_choices = _choices(shown.documents), _choices(failed_shown.documents)
        heading = "### Files that could not be read"
        if failed_shown.matching > len(failed_shown.documents):
            heading += f"\n\nThe latest {len(failed_shown.documents)} of " \
                       f"{failed_shown.matching:,} are listed."
        return (
            count_line(counts.get(INDEXED, 0), counts.get(FAILED, 0), library.chunk_total()),
            documents_rows(shown.documents),
            page_line(shown, query),
            shown.number,
            gr.update(choices=choices, value=picked if picked in dict(choices).values() else None),
            gr.update(visible=counts.get(FAILED, 0) > 0),
            heading,
            failed_rows(failed_shown.documents),
            gr.update(choices=failed_choices,
                      value=failed_picked if failed_picked in dict(failed_choices).values()
                      else None),
            state.banner_text(),
            state.status_text(),
        )

    def on_row_select(self, event: Any, query: str | None, page: int) -> Any:
        """A click on a table row picks its document (the id column identifies it)."""
        import gradio as gr

        short_id = str((event.row_value or [""])[-1])
        shown = self.state.library.documents_page(INDEXED, query or "", page, LIBRARY_PER_PAGE)
        doc = next((d for d in shown.documents if short_id and d.doc_id.startswith(short_id)),
                   None)
        return gr.update(value=doc.doc_id) if doc else gr.skip()

    # -- uploads -------------------------------------------------------------------------------
    def on_upload(self, files: list[Any] | None, progress: Any) -> str:
        """Store and index every file of the batch; the report has one line for each."""
        from app.ui.uploads import store_upload

        state, library = self.state, self.state.library
        lines, stored, results = [], [], []
        for f in files or []:
            original = Path(getattr(f, "orig_name", None) or Path(str(f)).name).name
            try:
                stored.append(store_upload(Path(str(f)), original, state.settings.uploads_dir,
                                           state.settings.upload_max_mb * 1_000_000))
            except LocalragError as err:
                lines.append(f"- ✗ {escape_markdown(str(err))}")
        rejected = len(lines)
        for i, path in enumerate(stored):
            progress((i, len(stored)), desc=f"indexing {path.name}")
            for r in library.ingest([path], source="upload"):
                results.append(r)
                lines.append(upload_line(path.name, r))
        if not lines:
            return ""
        return upload_summary(results, rejected) + "\n\n" + "\n".join(lines)

    # -- delete (after a confirmation), re-index, retry ----------------------------------------
    def _document(self, doc_id: str | None) -> Document | None:
        return self.state.library.document(doc_id) if doc_id else None

    def ask_delete(self, doc_id: str | None, prompt: str) -> tuple[Any, Any, Any, str]:
        """Show the confirmation row for the picked document; nothing is deleted yet."""
        import gradio as gr

        doc = self._document(doc_id)
        if doc is None:
            return gr.update(visible=False), "", None, "Choose a document first."
        question = prompt.format(name=f"**{escape_markdown(document_label(doc))}**")
        return gr.update(visible=True), question, doc.doc_id, ""

    def on_delete(self, doc_id: str | None) -> str:
        state = self.state
        if not doc_id:
            return "Choose a document first."
        try:
            doc = state.library.remove(doc_id, source="ui")
            for path in doc.paths:  # files the app keeps itself are deleted with the document
                if Path(path).parent == state.settings.uploads_dir.resolve():
                    Path(path).unlink(missing_ok=True)
            return f"Deleted {escape_markdown(doc.name)}."
        except LocalragError as err:
            return f"✗ {escape_markdown(str(err))}"

    def _read_again(self, doc_id: str | None, source: str) -> str:
        """Index a document's file again (``source``: re-index or retry); the report line."""
        library = self.state.library
        doc = self._document(doc_id)
        if doc is None:
            return "Choose a document first."
        paths = [Path(p) for p in doc.paths if Path(p).exists()]
        if not paths:
            return "Its file is gone: delete it instead."
        if source == "re-index":  # an indexed document's vectors are written anew
            library.remove(doc.doc_id, source=source)
        r = library.ingest(paths[:1], retry_failed=True, source=source)[0]
        return upload_line(paths[0].name, r)[2:]

    def on_reindex(self, doc_id: str | None) -> str:
        return self._read_again(doc_id, "re-index")

    def on_retry(self, doc_id: str | None) -> str:
        return self._read_again(doc_id, "retry")

    def tick(self, seen_version: int, *view_args: Any) -> tuple[Any, ...]:
        """The activity log, and the whole view when the library changed (uploads elsewhere, the
        watch folder); each browser session remembers the version it shows."""
        import gradio as gr

        library = self.state.library
        text = "\n".join(reversed(library.activity))
        version = library.version
        if version == seen_version:
            return (text, gr.skip(), *(gr.skip() for _ in self.view_outputs()))
        return (text, version, *self.view(*view_args))

    def redrawn(self, *view_args: Any) -> tuple[Any, ...]:
        """The library's version and the view of it, for an event that changed the library:
        marked as shown, the timer has nothing to redraw (its redraw would carry the picks as
        they were when it was sent, undoing a row picked since)."""
        version = self.state.library.version
        return (version, *self.view(*view_args))

    # -- events --------------------------------------------------------------------------------
    def register_events(self, ui: Any) -> None:
        import gradio as gr

        view_in, view_out = self.view_inputs(), self.view_outputs()
        redrawn_out = [self.seen_version, *view_out]

        def on_upload(files: list[Any] | None, query: str | None, page: int, picked: str | None,
                      failed_picked: str | None,
                      progress: gr.Progress = gr.Progress()) -> Any:  # noqa: B008 (Gradio injects it)
            report = self.on_upload(files, progress)
            return (report, None, *self.redrawn(query, page, picked, failed_picked))

        self.uploads.upload(on_upload, [self.uploads, *view_in],
                            [self.upload_report, self.uploads, *redrawn_out])

        def refresh(*view_args: Any) -> tuple[Any, ...]:
            return self.view(*view_args)

        def to_page(step: int) -> Any:
            return lambda query, page, *picks: self.view(query, page + step, *picks)

        self.search.change(lambda query, _page, *picks: self.view(query, 0, *picks), view_in,
                           view_out, show_progress="hidden")
        self.previous.click(to_page(-1), view_in, view_out, show_progress="hidden")
        self.next.click(to_page(1), view_in, view_out, show_progress="hidden")

        def on_select(event: Any, query: str | None, page: int) -> Any:
            return self.on_row_select(event, query, page)

        # Gradio finds the event argument by its annotation, which a local import of gradio
        # leaves unresolvable as a string: set it to the class itself.
        on_select.__annotations__ = {"event": gr.SelectData}
        self.documents_table.select(on_select, [self.search, self.page], self.document_pick)

        self._confirmed(self.delete, self.delete_confirm, self.document_pick,
                        "Delete {name}? This removes it from search.", self.library_report)
        self._confirmed(self.remove_failed, self.remove_confirm, self.failed_pick,
                        "Remove {name} from this list?",
                        self.failed_report)

        self.reindex.click(lambda doc_id, *view_args: (self.on_reindex(doc_id),
                                                       *self.redrawn(*view_args)),
                           [self.document_pick, *view_in], [self.library_report, *redrawn_out])
        self.retry.click(lambda doc_id, *view_args: (self.on_retry(doc_id),
                                                     *self.redrawn(*view_args)),
                         [self.failed_pick, *view_in], [self.failed_report, *redrawn_out])
        gr.Timer(ACTIVITY_POLL_S).tick(self.tick, [self.seen_version, *view_in],
                                       [self.activity, self.seen_version, *view_out],
                                       show_progress="hidden")
        ui.load(lambda *view_args: (self.state.library.version, *refresh(*view_args)), view_in,
                [self.seen_version, *view_out])

    def _confirmed(self, button: Any, confirm: ConfirmRow, pick: Any, prompt: str,
                   report: Any) -> None:
        """``button`` asks first (``prompt``); only the confirm button deletes."""
        import gradio as gr

        view_in, view_out = self.view_inputs(), self.view_outputs()
        button.click(lambda doc_id: self.ask_delete(doc_id, prompt), pick,
                     [confirm.row, confirm.question, confirm.pending, report])

        def on_confirm(doc_id: str | None, *view_args: Any) -> tuple[Any, ...]:
            return (gr.update(visible=False), None, self.on_delete(doc_id),
                    *self.redrawn(*view_args))

        confirm.yes.click(on_confirm, [confirm.pending, *view_in],
                          [confirm.row, confirm.pending, report, self.seen_version, *view_out])
        confirm.no.click(lambda: (gr.update(visible=False), None, "Nothing deleted."), None,
                         [confirm.row, confirm.pending, report])
