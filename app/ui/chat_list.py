"""The saved chats column of the Chat tab: the list (newest first), and for the open chat
rename, export as Markdown and delete (asked first)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.ui.chats import ChatStore, chat_label, chat_markdown, export_name
from app.ui.render import escape_markdown

LISTED_CHATS = 200


class ChatList:
    """Owns the saved-chats column. ``reopen`` (from the chat page) turns a stored chat into the
    chat page's outputs; the list only picks which."""

    def __init__(self, store: ChatStore, exports_dir: Any,
                 scope_labels: Callable[[list[str]], list[str]]) -> None:
        self.store = store
        self.exports_dir = exports_dir
        self.scope_labels = scope_labels  # scope picks (document ids) -> names, for the export

    def build(self) -> None:
        import gradio as gr

        with gr.Column(scale=1, min_width=220, elem_id="lr-chats-column") as self.column:
            self.new_chat = gr.Button("New chat", elem_id="lr-new-chat")
            self.chats = gr.Radio(self.choices(), label="Saved chats", elem_id="lr-chat-list")
            with gr.Accordion("This chat", open=False, elem_id="lr-chat-tools"):
                self.title_box = gr.Textbox(label="Title", elem_id="lr-chat-title")
                self.rename = gr.Button("Rename", size="sm", elem_id="lr-rename-chat")
                self.export = gr.Button("Export as Markdown", size="sm", elem_id="lr-export-chat")
                self.export_file = gr.DownloadButton("Download", visible=False, size="sm",
                                                     elem_id="lr-export-file")
                self.delete = gr.Button("Delete chat", size="sm", variant="stop",
                                        elem_id="lr-delete-chat")
                with gr.Row(visible=False) as self.confirm_row:
                    self.confirm_text = gr.Markdown(elem_id="lr-delete-chat-question")
                    self.confirm = gr.Button("Delete", size="sm", variant="stop",
                                             elem_id="lr-confirm-delete-chat")
                    self.cancel = gr.Button("Keep", size="sm", elem_id="lr-cancel-delete-chat")
                self.report = gr.Markdown(elem_id="lr-chat-report")

    def choices(self) -> list[tuple[str, str]]:
        return [(chat_label(c), c.chat_id) for c in self.store.recent(LISTED_CHATS)]

    def listed(self, chat_id: str | None) -> Any:
        import gradio as gr

        return gr.update(choices=self.choices(), value=chat_id)

    def on_rename(self, chat_id: str | None, title: str) -> Any:
        import gradio as gr

        if not chat_id:
            return "Ask a question first: a chat is saved with its first answer.", gr.skip()
        try:
            self.store.rename(chat_id, title)
        except ValueError as err:
            return f"✗ {escape_markdown(str(err))}", gr.skip()
        return "Renamed.", self.listed(chat_id)

    def on_export(self, chat_id: str | None) -> Any:
        import gradio as gr

        chat = self.store.get(chat_id) if chat_id else None
        if chat is None or not chat.turns:
            return "Nothing to export yet.", gr.update(visible=False)
        self.exports_dir.mkdir(parents=True, exist_ok=True)
        path = self.exports_dir / export_name(chat)
        path.write_text(chat_markdown(chat, self.scope_labels(chat.scope)), encoding="utf-8")
        return (f"Exported {len(chat.turns)} questions.",
                gr.update(value=str(path), label=f"Download {path.name}", visible=True))

    def ask_delete(self, chat_id: str | None) -> Any:
        import gradio as gr

        chat = self.store.get(chat_id) if chat_id else None
        if chat is None:
            return gr.update(visible=False), "", "No saved chat is open."
        return (gr.update(visible=True),
                f"Delete “{escape_markdown(chat.title)}” and its {len(chat.turns)} answers?", "")

    def register_events(self, reopen: Any, fresh: Any, chat_id: Any, outputs: list[Any]) -> None:
        """``reopen(chat_id)`` and ``fresh()`` return the chat page's ``outputs`` (which hold the
        open chat's id ``chat_id``) for a stored chat and for an empty one."""
        import gradio as gr

        self.chats.input(reopen, self.chats, outputs)
        self.new_chat.click(fresh, None, outputs)
        self.rename.click(self.on_rename, [chat_id, self.title_box], [self.report, self.chats])
        self.export.click(self.on_export, chat_id, [self.report, self.export_file])
        self.delete.click(self.ask_delete, chat_id,
                          [self.confirm_row, self.confirm_text, self.report])
        self.cancel.click(lambda: gr.update(visible=False), None, self.confirm_row)

        def delete(chat_id_value: str | None) -> Any:
            if chat_id_value:
                self.store.delete(chat_id_value)
            return fresh()

        self.confirm.click(delete, chat_id, outputs).then(
            lambda: (gr.update(visible=False), "Deleted."), None,
            [self.confirm_row, self.report])
