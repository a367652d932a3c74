"""The Chat tab: the conversation, its sources and the cited page."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from queue import Empty, Queue
from typing import Any

from app.answer.prompting import Message, Source, resolve_citations
from app.ui.render import (
    answer_markdown,
    answer_progress,
    context_line,
    escape_markdown,
    quote_markdown,
    sources_html,
)
from app.ui.state import AppState
from ingest.errors import LocalragError

log = logging.getLogger(__name__)
EMPTY_SOURCES = "<p class='lr-empty'>Sources appear here.</p>"
SEARCHING_SOURCES = "<p class='lr-empty'>Finding the passages for this question …</p>"
# How often the status line moves while nothing else happens (prompt processing takes 5-30 s).
PROGRESS_POLL_S = 0.5


def source_payload(sources: list[Source], evidence: dict[int, list[tuple[int, int]]] | None = None
                   ) -> list[dict[str, Any]]:
    """Sources as plain data for a ``gr.State`` (what the page picker needs to render a page).
    ``mark`` is what the page image shades: the supporting sentence where the check found one."""
    evidence = evidence or {}
    out = []
    for s in sources:
        spans = evidence.get(s.number)
        mark = " ".join(s.text[a:b] for a, b in sorted(spans)) if spans else s.text
        out.append({"number": s.number, "file": s.file, "path": s.path, "page": s.page,
                    "text": s.text, "mark": mark})
    return out


def _events_in_thread(events: Iterator[Any], poll_s: float = PROGRESS_POLL_S) -> Iterator[Any]:
    """The chain's events from a worker thread, with ``None`` every ``poll_s`` without one (so
    the page can show the seconds passing while the model reads). Closing this generator (Stop,
    a closed tab) stops the chain at its next event."""
    queue: Queue[Any] = Queue()
    stop = threading.Event()
    end = object()

    def run() -> None:
        try:
            for event in events:
                queue.put(event)
                if stop.is_set():
                    break
        except BaseException as err:  # handed to the page's generator, which reports it
            queue.put(err)
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                close()
            queue.put(end)

    threading.Thread(target=run, name="localrag-answer", daemon=True).start()
    try:
        while True:
            try:
                item = queue.get(timeout=poll_s)
            except Empty:
                yield None
                continue
            if item is end:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


def _above(quote: str, body: str) -> str:
    """The chat message: the quote (markdown, may be empty) above the answer's body."""
    return f"{quote}\n\n{body}" if quote else body


def source_choices(payload: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return [(f"[{s['number']}] {s['file']} p.{s['page'] + 1}", s["number"]) for s in payload]


class ChatPage:
    """Owns the chat blocks and their events; the status line lives under the chat."""

    def __init__(self, state: AppState) -> None:
        self.state = state

    def build(self) -> None:
        import gradio as gr

        self.history_state = gr.State([])  # the conversation as (role, text) for the chain
        self.sources_state = gr.State([])
        with gr.Row():
            with gr.Column(scale=3):
                self.chatbot = gr.Chatbot(label="Conversation", height=480, elem_id="lr-chat",
                                          sanitize_html=True, feedback_options=None)
                self.question = gr.Textbox(placeholder="Ask about your documents and press Enter",
                                           show_label=False, elem_id="lr-question")
                with gr.Row():
                    self.send = gr.Button("Send", variant="primary", elem_id="lr-send")
                    self.stop = gr.Button("Stop", elem_id="lr-stop")
                    self.new_chat = gr.Button("New chat", elem_id="lr-new-chat")
            with gr.Column(scale=2):
                self.sources_view = gr.HTML(EMPTY_SOURCES, elem_id="lr-sources")
                self.source_pick = gr.Radio([], label="Show the page of source", elem_id="lr-pick")
                self.page_view = gr.Image(label="Page", elem_id="lr-page", interactive=False,
                                          type="pil", height=520)
        self.status = gr.Markdown(self.state.status_text(), elem_id="lr-status")

    def respond(self, message: str, chat: list[dict[str, Any]], history: list[Message]) -> Any:
        """Stream one answer: (chat, history, sources html, picker, sources payload, status).

        The previous answer's sources go at once; the new ones come as soon as retrieval is done,
        before the model's first token; the status line counts the seconds until the answer."""
        import gradio as gr

        state = self.state
        message = (message or "").strip()
        if not message:
            return
        started = time.monotonic()
        chat = [*chat, {"role": "user", "content": escape_markdown(message)},
                {"role": "assistant", "content": "…"}]
        yield (chat, history, SEARCHING_SOURCES, gr.update(choices=[], value=None), [],
               answer_progress("searching your documents", 0))
        if state.chain is None:
            chat[-1]["content"] = escape_markdown(
                f"The language model is not available: {state.llm_problem}")
            yield chat, history, EMPTY_SOURCES, gr.skip(), gr.skip(), state.status_text()
            return
        phase, checked, pending, numbers, quote = "searching your documents", "", "", set(), ""
        try:
            for event in _events_in_thread(state.chain.stream(message,
                                                              [tuple(m) for m in history])):
                elapsed = time.monotonic() - started
                if event is None:  # no news for a while: the clock moves on
                    yield chat, history, gr.skip(), gr.skip(), gr.skip(), answer_progress(
                        phase, elapsed)
                elif event.kind == "sources" and event.answer is not None:
                    answer = event.answer
                    numbers = {s.number for s in answer.sources}
                    payload = source_payload(answer.sources)
                    phase = event.text or "checking the passages"
                    yield (chat, history,
                           sources_html(answer.sources, answer.standalone_question, set(),
                                        closest_only=answer.not_found),
                           gr.update(choices=source_choices(payload), value=None), payload,
                           answer_progress(phase, elapsed))
                elif event.kind == "quote" and event.answer is not None:
                    # The sentences that best answer, from the sources, while the model reads.
                    quote = quote_markdown(event.answer.quote, numbers)
                    chat[-1]["content"] = _above(quote, "…")
                    evidence = event.answer.evidence()
                    payload = source_payload(event.answer.sources, evidence)
                    yield (chat, history,
                           sources_html(event.answer.sources, event.answer.standalone_question,
                                        set(), evidence),
                           gr.skip(), payload, answer_progress(phase, elapsed))
                elif event.kind in ("token", "claim"):
                    # Unchecked text shows without markers; a checked sentence replaces it.
                    if event.kind == "token":
                        pending += event.text
                    else:
                        checked, pending = f"{checked} {event.text}", ""
                    phase = "answering"
                    chat[-1]["content"] = _above(quote, answer_markdown(
                        f"{checked} {pending}".strip(), numbers) + " …")
                    yield chat, history, gr.skip(), gr.skip(), gr.skip(), answer_progress(
                        phase, elapsed)
                elif event.kind == "done" and event.answer is not None:
                    yield self._finished(event.answer, message, chat, history)
        except LocalragError as err:
            chat[-1]["content"] = escape_markdown(f"⚠️ {err}")
            yield chat, history, gr.skip(), gr.skip(), gr.skip(), state.status_text()
        except Exception as err:  # never a stack trace in the page
            log.exception("answer failed")
            chat[-1]["content"] = escape_markdown(f"⚠️ unexpected error: {type(err).__name__}: {err}")
            yield chat, history, gr.skip(), gr.skip(), gr.skip(), state.status_text()

    def _finished(self, answer: Any, message: str, chat: list[dict[str, Any]],
                  history: list[Message]) -> Any:
        import gradio as gr

        state = self.state
        numbers = {s.number for s in answer.sources}
        text = answer.text
        if answer.refused and answer.refusal_reason:
            text += f" ({answer.refusal_reason}.)"
        if answer.standalone_question != message:
            text += f"\n\n(searched for: {answer.standalone_question})"
        quote = quote_markdown(answer.quote, numbers) if answer.quote and not answer.refused \
            else ""
        chat[-1]["content"] = _above(quote, answer_markdown(text, numbers))
        plain = resolve_citations(answer.text, []).text
        history = [*history, ("user", message), ("assistant", plain)][-20:]
        evidence = answer.evidence()
        payload = source_payload(answer.sources, evidence)
        context = context_line(answer.prompt_tokens, state.chain.llm.num_ctx) \
            if answer.prompt_tokens and state.chain else ""
        return (chat, history,
                sources_html(answer.sources, answer.standalone_question,
                             {s.number for s in answer.cited}, evidence,
                             closest_only=answer.refused),
                gr.update(choices=source_choices(payload), value=None),
                payload, state.status_text(context))

    def show_page(self, number: int | None, payload: list[dict[str, Any]]) -> Any:
        import gradio as gr

        from app.ui.page_image import render_page

        chosen = next((s for s in payload if s["number"] == number), None)
        if chosen is None:
            return None
        try:
            return render_page(Path(chosen["path"]), chosen["page"],
                               chosen.get("mark") or chosen["text"])
        except Exception as err:
            gr.Warning(f"cannot show the page: {err}")
            return None

    def register_events(self) -> None:
        import gradio as gr

        outputs = [self.chatbot, self.history_state, self.sources_view, self.source_pick,
                   self.sources_state, self.status]
        asked = gr.State("")  # the question, kept while the box is cleared for the next one
        submit = self.question.submit(lambda q: (q, ""), self.question, [asked, self.question],
                                      queue=False).then(
            self.respond, [asked, self.chatbot, self.history_state], outputs)
        click = self.send.click(lambda q: (q, ""), self.question, [asked, self.question],
                                queue=False).then(
            self.respond, [asked, self.chatbot, self.history_state], outputs)
        self.stop.click(None, None, None, cancels=[submit, click])
        self.new_chat.click(lambda: ([], [], EMPTY_SOURCES, gr.update(choices=[], value=None), [],
                                     None),
                            None, [self.chatbot, self.history_state, self.sources_view,
                                   self.source_pick, self.sources_state, self.page_view],
                            cancels=[submit, click])
        self.source_pick.change(self.show_page, [self.source_pick, self.sources_state],
                                self.page_view)
