"""The browser UI (Gradio Blocks): the page frame and its tabs. Each tab is a page class that
owns its blocks and events (chat_page, library_page, settings_page); this module only wires them."""

from __future__ import annotations

from typing import Any

from app.ui.chat_page import ChatPage
from app.ui.library_page import LibraryPage
from app.ui.settings_page import SettingsPage
from app.ui.shell import Shell
from app.ui.state import AppState, load_ui_settings

__all__ = ["CSS", "AppState", "build_ui", "load_ui_settings"]

CSS = """
.lr-source { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 8px;
  margin-bottom: 8px; }
.lr-source.lr-cited, .lr-key-cited { border: 2px solid var(--color-accent); }
.lr-key-cited { padding: 0 3px; border-radius: 4px; }
.lr-cited-tag { color: var(--color-accent); font-size: 0.85em; margin-left: 6px; }
.lr-title { font-weight: 600; }
.lr-file { color: var(--body-text-color-subdued); margin-left: 4px; }
.lr-source-head { font-size: 0.9em; margin-bottom: 4px; }
.lr-page, .lr-score { color: var(--body-text-color-subdued); margin-left: 6px; }
.lr-passage { font-size: 0.9em; white-space: pre-wrap; max-height: 14em; overflow-y: auto; }
.lr-passage mark { background: #ffe58a; }
.lr-evidence { background: #d9f2d9; border-bottom: 2px solid #2e7d32; }
.lr-note { font-size: 0.9em; color: var(--body-text-color-subdued); }
#lr-banner p { color: #b45309; font-weight: 600; }
"""


def build_ui(state: AppState) -> Any:
    """The Blocks app (gradio is imported here: the command line never pays for it)."""
    import gradio as gr

    with gr.Blocks(title="localrag") as ui:
        gr.Markdown("## localrag · chat with your PDFs, offline")
        banner = gr.Markdown(state.banner_text(), elem_id="lr-banner")
        chat = ChatPage(state)
        with gr.Tab("Chat"):
            chat.build()
        shell = Shell(banner=banner, status=chat.status)
        library = LibraryPage(state, shell)
        with gr.Tab("Library"):
            library.build()
        settings = SettingsPage(state, shell)
        with gr.Tab("Settings"):
            settings.build()
        chat.register_events()
        library.register_events(ui)
        settings.register_events(ui)
    return ui
