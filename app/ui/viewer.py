"""The page viewer: a cited page beside the chat, wide enough to read, with zoom, previous/next
page and the supporting passage shaded. Opened by clicking a citation marker or a source card
(the page's script writes the source number into a hidden box, see ``app.ui.app.PAGE_SCRIPT``)."""

from __future__ import annotations

import base64
import html
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
ZOOMS = (100, 150, 200, 300)  # percent of the panel's width
# Pixels per PDF point: a 612 pt page is 1,224 px, sharp in a ~850 px panel at 100 % and 150 %;
# higher zooms render more.
BASE_SCALE = 2.0
CLOSED = {"number": None, "page": 0, "zoom": ZOOMS[0]}


def viewer_html(png: bytes, boxes: list[tuple[float, float, float, float]], heading: str,
                page_index: int, page_count: int, zoom: int, note: str = "") -> str:
    """The page image at ``zoom`` percent of the panel's width, the passage's boxes shaded on it
    (fractions of the page, so they stay on the words at any zoom). ``heading`` and ``note``
    are escaped."""
    shades = "".join(
        f"<div class='lr-shade' style='left:{left:.2%};top:{top:.2%};"
        f"width:{width:.2%};height:{height:.2%}'></div>"
        for left, top, width, height in boxes)
    image = base64.b64encode(png).decode("ascii")
    note_html = f" · <span class='lr-note'>{html.escape(note)}</span>" if note else ""
    return (f"<div class='lr-viewer-head'>{html.escape(heading)} · page {page_index + 1} of "
            f"{page_count} · {zoom}%{note_html}</div>"
            f"<div class='lr-page-scroll'><div class='lr-page-wrap' style='width:{zoom}%'>"
            f"<img id='lr-page-image' alt='page {page_index + 1}' "
            f"src='data:image/png;base64,{image}'>{shades}</div></div>")


def next_zoom(zoom: int, step: int) -> int:
    """The zoom one step in or out of ``zoom``, staying within ``ZOOMS``."""
    index = ZOOMS.index(zoom) if zoom in ZOOMS else 0
    return ZOOMS[min(max(index + step, 0), len(ZOOMS) - 1)]


def source_heading(source: dict[str, Any]) -> str:
    title = (source.get("title") or "").strip()
    named = f"{title} ({source['file']})" if title and title != source["file"] else source["file"]
    return f"[{source['number']}] {named}"


def render_view(source: dict[str, Any], page_index: int, zoom: int,
                ocr_cache: Path | None = None) -> tuple[str, int]:
    """The viewer's HTML for ``source`` at ``page_index`` (clamped to the document), and that
    page's index. On the source's own page its passage (or the supporting spans) is shaded;
    ``ocr_cache`` (the OCR cache file) locates it on a page that was read by OCR."""
    from app.ui.page_image import page_view

    own = page_index == source["page"]
    passages = (source.get("marks") or [source["text"]]) if own else []
    words: list[Any] = []
    if own and ocr_cache is not None:
        from ingest.ocr_cache import page_words

        words = page_words(ocr_cache, Path(source["path"]), page_index)
    view = page_view(Path(source["path"]), page_index, passages, BASE_SCALE * max(1, zoom / 150),
                     ocr_words=words)
    if own:
        note = "" if view.boxes else "the passage could not be located on the page image"
    else:
        note = f"the passage is on page {source['page'] + 1}"
    return viewer_html(view.png, view.boxes, source_heading(source), view.page_index,
                       view.page_count, zoom, note), view.page_index


class PageViewer:
    """Owns the viewer column; its state is the source number, page and zoom it shows."""

    def __init__(self, ocr_cache: Path | None = None) -> None:
        self.ocr_cache = ocr_cache

    def build(self) -> None:
        import gradio as gr

        self.state = gr.State(dict(CLOSED))
        with gr.Column(scale=7, visible=False, elem_id="lr-viewer-column") as self.column:
            with gr.Row():
                self.previous = gr.Button("◀ Previous page", size="sm", elem_id="lr-prev-page")
                self.next = gr.Button("Next page ▶", size="sm", elem_id="lr-next-page")
                self.zoom_out = gr.Button("−", size="sm", elem_id="lr-zoom-out", min_width=40)
                self.zoom_in = gr.Button("+", size="sm", elem_id="lr-zoom-in", min_width=40)
                self.close = gr.Button("Close", size="sm", elem_id="lr-close-viewer")
            self.view = gr.HTML(elem_id="lr-viewer")

    def show(self, shown: dict[str, Any], payload: list[dict[str, Any]]) -> tuple[Any, Any]:
        """(html, state) for ``shown``; a source that is gone (a new question) closes the view."""
        import gradio as gr

        source = next((s for s in payload if s["number"] == shown.get("number")), None)
        if source is None:
            return "", dict(CLOSED)
        try:
            view, page = render_view(source, shown["page"], shown["zoom"], self.ocr_cache)
            return view, {**shown, "page": page}
        except Exception as err:  # a moved or unreadable file: say so, keep the chat
            log.warning("cannot show the page: %s", err)
            gr.Warning(f"cannot show the page: {err}")
            return "", dict(CLOSED)

    def open(self, request: str, payload: list[dict[str, Any]], shown: dict[str, Any]) -> Any:
        """Open source ``request`` ("3" or "3:<clock>", written by the page's script)."""
        try:
            number = int((request or "").split(":", 1)[0])
        except ValueError:
            number = None
        source = next((s for s in payload if s["number"] == number), None)
        if source is None:
            return self.closed()
        zoom = shown.get("zoom") or ZOOMS[0]
        view, state = self.show({"number": number, "page": source["page"], "zoom": zoom},
                                payload)
        return (view, state, *self.columns(state["number"] is not None))

    def step(self, shown: dict[str, Any], payload: list[dict[str, Any]], pages: int = 0,
             zooms: int = 0) -> tuple[Any, Any]:
        if shown.get("number") is None:
            return "", dict(CLOSED)
        return self.show({**shown, "page": max(0, shown["page"] + pages),
                          "zoom": next_zoom(shown["zoom"], zooms)}, payload)

    @staticmethod
    def columns(open_: bool) -> tuple[Any, Any, Any]:
        """Visibility of (saved chats, sources, viewer): the viewer takes the room of both."""
        import gradio as gr

        return (gr.update(visible=not open_), gr.update(visible=not open_),
                gr.update(visible=open_))

    def closed(self) -> Any:
        return ("", dict(CLOSED), *self.columns(False))

    def register_events(self, request_box: Any, payload: Any, hidden_columns: list[Any]) -> None:
        """``request_box``: the hidden box the page's script writes a source number into;
        ``hidden_columns``: (saved chats, sources), hidden while the viewer is open."""
        layout = [self.view, self.state, *hidden_columns, self.column]
        request_box.change(self.open, [request_box, payload, self.state], layout)
        self.close.click(self.closed, None, layout)
        for button, pages, zooms in ((self.previous, -1, 0), (self.next, 1, 0),
                                     (self.zoom_out, 0, -1), (self.zoom_in, 0, 1)):
            button.click(lambda shown, p, pages=pages, zooms=zooms: self.step(shown, p, pages,
                                                                              zooms),
                         [self.state, payload], [self.view, self.state])
