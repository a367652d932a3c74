"""The browser UI (Gradio Blocks): the page frame and its tabs. Each tab is a page class that
owns its blocks and events (chat_page, library_page, settings_page); this module only wires them."""

from __future__ import annotations

from typing import Any

from app.ui.chat_page import ChatPage
from app.ui.library_page import LibraryPage
from app.ui.settings_page import SettingsPage
from app.ui.shell import Shell
from app.ui.state import AppState, load_ui_settings

__all__ = ["CSS", "PAGE_SCRIPT", "AppState", "build_ui", "load_ui_settings"]

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
.lr-source { cursor: pointer; }
.lr-hidden { display: none !important; }
.lr-viewer-head { font-size: 0.9em; margin: 4px 0; }
.lr-page-scroll { max-height: 80vh; overflow: auto; border: 1px solid var(--border-color-primary); }
.lr-page-wrap { position: relative; }
#lr-viewer { padding: 0; }
.lr-page-wrap img { display: block; width: 100%; height: auto; }
.lr-shade { position: absolute; background: rgba(255, 214, 0, 0.35); outline: 1px solid #e67800; }
"""

# Runs once when the page loads (Gradio's ``js``). Clicking a citation marker or a source card
# writes the source number into the hidden box the viewer listens to (the clock makes a second
# click on the same source a change too); Esc presses Stop. Capturing the click first keeps the
# marker's "#source-n" link from scrolling the page. The hover preview is set here because the
# chat's markdown sanitiser drops link titles.
PAGE_SCRIPT = """
() => {
  const open = (n) => {
    const box = document.querySelector('#lr-open-source textarea');
    if (!box || !n) return;
    box.value = n + ':' + Date.now();
    box.dispatchEvent(new Event('input', {bubbles: true}));
  };
  document.addEventListener('click', (event) => {
    const link = event.target.closest('a[href^="#source-"]');
    if (link) {
      event.preventDefault();
      event.stopPropagation();
      open(link.getAttribute('href').slice('#source-'.length));
      return;
    }
    const card = event.target.closest('#lr-sources .lr-source');
    if (card && !String(window.getSelection())) open(card.id.slice('source-'.length));
  }, true);
  // Hovering a marker previews its passage, read from the source card on screen.
  document.addEventListener('mouseover', (event) => {
    const link = event.target.closest && event.target.closest('a[href^="#source-"]');
    if (!link || link.title) return;
    const passage = document.querySelector(link.getAttribute('href') + ' .lr-passage');
    if (passage) link.title = passage.textContent.trim().slice(0, 300);
  });
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') document.querySelector('#lr-stop')?.click();
  });
}
"""


def build_ui(state: AppState) -> Any:
    """The Blocks app (gradio is imported here: the command line never pays for it)."""
    import gradio as gr

    # The full window width: the page viewer beside the chat needs 800 px and more.
    with gr.Blocks(title="localrag", fill_width=True) as ui:
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
