"""The Chat tab: the conversation, its sources and the cited page."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from app.answer.prompting import Message, Source, resolve_citations
from app.ui.render import answer_markdown, context_line, escape_markdown, sources_html
from app.ui.state import AppState
from ingest.errors import LocalragError

log = logging.getLogger(__name__)
EMPTY_SOURCES = "<p class='lr-empty'>Sources appear here.</p>"


def source_payload(sources: list[Source]) -> list[dict[str, Any]]:
    """Sources as plain data for a ``gr.State`` (what the page picker needs to render a page)."""
    return [{"number": s.number, "file": s.file, "path": s.path, "page": s.page, "text": s.text}
            for s in sources]


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
        """Stream one answer: (chat, history, sources html, picker, sources payload, status)."""
        import gradio as gr

        state = self.state
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
                    payload = source_payload(answer.sources)
                    context = context_line(answer.prompt_tokens, state.chain.llm.num_ctx) \
                        if answer.prompt_tokens else ""
                    yield (chat, history,
                           sources_html(answer.sources, answer.standalone_question,
                                        {s.number for s in answer.cited}),
                           gr.update(choices=source_choices(payload), value=None),
                           payload, state.status_text(context))
        except LocalragError as err:
            chat[-1]["content"] = escape_markdown(f"⚠️ {err}")
            yield chat, history, gr.skip(), gr.skip(), gr.skip(), ""
        except Exception as err:  # never a stack trace in the page
            log.exception("answer failed")
            chat[-1]["content"] = escape_markdown(f"⚠️ unexpected error: {type(err).__name__}: {err}")
            yield chat, history, gr.skip(), gr.skip(), gr.skip(), ""

    def show_page(self, number: int | None, payload: list[dict[str, Any]]) -> Any:
        import gradio as gr

        from app.ui.page_image import render_page

        chosen = next((s for s in payload if s["number"] == number), None)
        if chosen is None:
            return None
        try:
            return render_page(Path(chosen["path"]), chosen["page"], chosen["text"])
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
