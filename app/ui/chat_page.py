"""The Chat tab: the conversation and its sources, beside the saved chats (``chat_list``) and
the page viewer (``viewer``); questions can be limited to chosen documents (``scope_picker``)."""

from __future__ import annotations

import logging
import time
import uuid
from threading import Event
from typing import Any

from app.answer.prompting import Message, Source, resolve_citations
from app.answer.pump import events_in_thread
from app.owner.scope import scope_doc_ids
from app.ui.chat_list import ChatList
from app.ui.chats import Turn
from app.ui.render import (
    answer_markdown,
    answer_progress,
    context_line,
    escape_markdown,
    quote_markdown,
    sources_html,
)
from app.ui.scope_picker import pick_label, scope_choices, scope_summary
from app.ui.state import AppState
from app.ui.stop_signals import StopSignals
from app.ui.viewer import PageViewer
from ingest.errors import LocalragError

log = logging.getLogger(__name__)
EMPTY_SOURCES = "<p class='lr-empty'>Sources appear here.</p>"
SEARCHING_SOURCES = "<p class='lr-empty'>Finding the passages for this question …</p>"
# How often the status line moves while nothing else happens (prompt processing takes 5-30 s).
PROGRESS_POLL_S = 0.5
# Chats answered at once: each searches at once and then waits its turn for the model in the
# backend's gate, seeing its place in line (Gradio's default of 2 would queue the rest unseen).
CHAT_CONCURRENCY = 16


def source_payload(sources: list[Source], evidence: dict[int, list[tuple[int, int]]] | None = None
                   ) -> list[dict[str, Any]]:
    """Sources as plain data for a ``gr.State`` (what the page viewer needs to render a page).
    ``marks`` is what the page image shades: the supporting sentences where the check found
    them, else the whole passage."""
    evidence = evidence or {}
    out = []
    for s in sources:
        marks = [s.text[a:b] for a, b in sorted(evidence.get(s.number, ()))] or [s.text]
        out.append({"number": s.number, "file": s.file, "title": s.title, "path": s.path,
                    "page": s.page, "text": s.text, "marks": marks})
    return out


def _above(quote: str, body: str) -> str:
    """The chat message: the quote (markdown, may be empty) above the answer's body."""
    return f"{quote}\n\n{body}" if quote else body


def message_text(message: dict[str, Any]) -> str:
    """A chat message's text. What the page sends back holds it as Gradio's parts
    (``[{"type": "text", "text": ...}]``), what this module builds as a string."""
    content = message.get("content") or ""
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if isinstance(part, dict))


def stopped(chat: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The chat after Stop: an answer cut short says so instead of waiting on "…" forever."""
    if not chat or chat[-1].get("role") != "assistant":
        return chat
    text = message_text(chat[-1])
    if not text.endswith("…"):
        return chat
    cut = text.removesuffix("…").rstrip()
    return [*chat[:-1], {**chat[-1], "content": f"{cut}\n\n*(stopped)*" if cut else "*(stopped)*"}]


class ChatPage:
    """Owns the conversation blocks and their events; the status line lives under the chat."""

    def __init__(self, state: AppState) -> None:
        self.state = state
        self.stops = StopSignals()
        self.chat_list = ChatList(state.chats, state.settings.exports_dir, self.scope_labels)
        self.viewer = PageViewer(state.settings.ocr_cache_path)

    def build(self) -> None:
        import gradio as gr

        self.history_state = gr.State([])  # the conversation as (role, text) for the chain
        self.sources_state = gr.State([])
        self.chat_id = gr.State(None)  # the saved chat this conversation is, once answered
        # Which browser tab this is: its Stop stops its own answer only.
        self.session_key = gr.State(lambda: uuid.uuid4().hex)
        with gr.Row(equal_height=False):
            self.chat_list.build()
            with gr.Column(scale=4, min_width=420):
                self.scope_line = gr.Markdown(self.scope_text([]), elem_id="lr-scope-line")
                self.chatbot = gr.Chatbot(label="Conversation", height=520, elem_id="lr-chat",
                                          sanitize_html=True, feedback_options=None)
                self.question = gr.Textbox(
                    placeholder="Ask about your documents (Enter sends, Esc stops)",
                    show_label=False, lines=1, max_lines=6,
                    elem_id="lr-question")
                with gr.Row():
                    self.send = gr.Button("Send", variant="primary", elem_id="lr-send")
                    self.stop = gr.Button("Stop", elem_id="lr-stop")
                    self.regenerate = gr.Button("Regenerate", elem_id="lr-regenerate")
                    self.edit_last = gr.Button("Edit last question", elem_id="lr-edit-last")
                with gr.Accordion("Ask only within chosen documents", open=False,
                                  elem_id="lr-scope-tools"):
                    self.scope_find = gr.Textbox(placeholder="find a document or folder by name "
                                                 "or title", show_label=False,
                                                 elem_id="lr-scope-find")
                    self.scope_pick = gr.Dropdown(self.scope_options("", []), value=[],
                                                  multiselect=True, label="Documents and folders",
                                                  elem_id="lr-scope")
            with gr.Column(scale=4, min_width=320) as self.sources_column:
                self.sources_view = gr.HTML(EMPTY_SOURCES, elem_id="lr-sources")
            self.viewer.build()
        # Written by the page's script when a marker or a source card is clicked.
        self.open_source = gr.Textbox(elem_id="lr-open-source", elem_classes=["lr-hidden"],
                                      show_label=False, container=False)
        self.status = gr.Markdown(self.state.status_text(), elem_id="lr-status")

    # The scope: what the questions of this chat search.

    def scope_options(self, typed: str, picks: list[str]) -> list[tuple[str, str]]:
        return scope_choices(self.state.library.documents(), typed or "", picks or [])

    def scope_ids(self, picks: list[str]) -> set[str] | None:
        if not picks:
            return None
        return scope_doc_ids(self.state.library.documents(), picks)

    def scope_labels(self, picks: list[str]) -> list[str]:
        documents = self.state.library.documents() if picks else []
        return [pick_label(p, documents) for p in picks]

    def scope_text(self, picks: list[str]) -> str:
        if not picks:
            return scope_summary([], [], None)
        documents = self.state.library.documents()  # read once: 10,000 rows take ~0.2 s
        return scope_summary(picks, documents, len(scope_doc_ids(documents, picks)))

    def on_scope(self, picks: list[str], chat_id: str | None) -> Any:
        if chat_id:
            self.state.chats.set_scope(chat_id, picks or [])
        return self.scope_text(picks)

    def on_find(self, typed: str, picks: list[str]) -> Any:
        import gradio as gr

        return gr.update(choices=self.scope_options(typed, picks), value=picks or [])

    # Answering.

    def respond(self, message: str, chat: list[dict[str, Any]], history: list[Message],
                chat_id: str | None, picks: list[str], session_key: str | None = None) -> Any:
        """Stream one answer: (chat, history, sources html, sources payload, status, chat id,
        saved chats).

        The previous answer's sources go at once; the new ones come as soon as retrieval is done,
        before the model's first token; the status line counts the seconds until the answer.
        Stop (the session's flag) ends it within one progress tick, "(stopped)" its last frame."""
        stop = self.stops.flag(session_key)
        try:
            yield from self._answer(message, chat, history, chat_id, picks, stop)
        finally:
            self.stops.done(session_key)

    def _answer(self, message: str, chat: list[dict[str, Any]], history: list[Message],
                chat_id: str | None, picks: list[str], stop: Event) -> Any:
        import gradio as gr

        state = self.state
        message = (message or "").strip()
        if not message:
            return
        started = time.monotonic()
        chat = [*chat, {"role": "user", "content": escape_markdown(message)},
                {"role": "assistant", "content": "…"}]
        keep = (gr.skip(), gr.skip())  # chat id and the saved chats, until the answer is saved
        yield (chat, history, SEARCHING_SOURCES, [],
               answer_progress("searching your documents", 0), *keep)
        if state.chain is None:
            chat[-1]["content"] = escape_markdown(
                f"The language model is not available: {state.llm_problem}")
            yield chat, history, EMPTY_SOURCES, gr.skip(), state.status_text(), *keep
            return
        phase, checked, pending, numbers, quote = "searching your documents", "", "", set(), ""
        scope = self.scope_ids(picks)
        events = events_in_thread(state.chain.stream(
            message, [tuple(m) for m in history], scope=scope), PROGRESS_POLL_S)
        try:
            for event in events:
                elapsed = time.monotonic() - started
                if stop.is_set():
                    yield stopped(chat), history, gr.skip(), gr.skip(), state.status_text(), \
                        *keep
                    return
                if event is None:  # no news for a while: the clock moves on
                    yield chat, history, gr.skip(), gr.skip(), answer_progress(phase, elapsed), \
                        *keep
                elif event.kind == "sources" and event.answer is not None:
                    answer = event.answer
                    numbers = {s.number for s in answer.sources}
                    payload = source_payload(answer.sources)
                    phase = event.text or "checking the passages"
                    yield (chat, history,
                           sources_html(answer.sources, answer.standalone_question, set(),
                                        closest_only=answer.not_found),
                           payload, answer_progress(phase, elapsed), *keep)
                elif event.kind == "waiting":  # in line for the model, or its turn came
                    phase = event.text
                    yield chat, history, gr.skip(), gr.skip(), answer_progress(phase, elapsed), \
                        *keep
                elif event.kind == "quote" and event.answer is not None:
                    # The sentences that best answer, from the sources, while the model reads.
                    quote = quote_markdown(event.answer.quote, numbers)
                    chat[-1]["content"] = _above(quote, "…")
                    evidence = event.answer.evidence()
                    yield (chat, history,
                           sources_html(event.answer.sources, event.answer.standalone_question,
                                        set(), evidence),
                           source_payload(event.answer.sources, evidence),
                           answer_progress(phase, elapsed), *keep)
                elif event.kind in ("token", "claim"):
                    # Unchecked text shows without markers; a checked sentence replaces it.
                    if event.kind == "token":
                        pending += event.text
                    else:
                        checked, pending = f"{checked} {event.text}", ""
                    phase = "answering"
                    chat[-1]["content"] = _above(quote, answer_markdown(
                        f"{checked} {pending}".strip(), numbers) + " …")
                    yield chat, history, gr.skip(), gr.skip(), answer_progress(phase, elapsed), \
                        *keep
                elif event.kind == "done" and event.answer is not None:
                    yield self._finished(event.answer, message, chat, history, chat_id, picks)
        except LocalragError as err:
            chat[-1]["content"] = escape_markdown(f"⚠️ {err}")
            yield chat, history, gr.skip(), gr.skip(), state.status_text(), *keep
        except Exception as err:  # never a stack trace in the page
            log.exception("answer failed")
            chat[-1]["content"] = escape_markdown(f"⚠️ unexpected error: {type(err).__name__}: {err}")
            yield chat, history, gr.skip(), gr.skip(), state.status_text(), *keep
        finally:
            events.close()  # the chain stops at its next event

    def _finished(self, answer: Any, message: str, chat: list[dict[str, Any]],
                  history: list[Message], chat_id: str | None, picks: list[str]) -> Any:
        state = self.state
        numbers = {s.number for s in answer.sources}
        text = answer.text
        if answer.refused and answer.refusal_reason:
            text += f" ({answer.refusal_reason}.)"
        if answer.standalone_question != message:
            text += f"\n\n(searched for: {answer.standalone_question})"
        evidence = answer.evidence()
        payload = source_payload(answer.sources, evidence)
        shown_quote = answer.quote is not None and not answer.refused
        quote = quote_markdown(answer.quote, numbers) if shown_quote else ""
        chat[-1]["content"] = _above(quote, answer_markdown(text, numbers))
        plain = resolve_citations(answer.text, []).text
        history = [*history, ("user", message), ("assistant", plain)][-20:]
        panel = sources_html(answer.sources, answer.standalone_question,
                             {s.number for s in answer.cited}, evidence,
                             closest_only=answer.refused)
        chat_id = chat_id or state.chats.create(message, picks or [])
        state.chats.add_turn(chat_id, Turn(
            message, _above(answer.quote.render() if shown_quote else "", text),
            chat[-1]["content"], panel, payload, plain=plain))
        context = context_line(answer.prompt_tokens, state.chain.llm.num_ctx) \
            if answer.prompt_tokens and state.chain else ""
        return (chat, history, panel, payload, state.status_text(context), chat_id,
                self.chat_list.listed(chat_id))

    # Saved chats, regenerate, edit the last question.

    def reopen(self, chat_id: str | None) -> Any:
        """The page for saved chat ``chat_id``: its conversation, the last answer's sources and
        its scope (outputs of ``chat_outputs``)."""
        chat = self.state.chats.get(chat_id) if chat_id else None
        if chat is None:
            return self.fresh()
        messages: list[dict[str, Any]] = []
        history: list[Message] = []
        for turn in chat.turns:
            messages += [{"role": "user", "content": escape_markdown(turn.question)},
                         {"role": "assistant", "content": turn.shown}]
            history += [("user", turn.question), ("assistant", turn.plain)]
        last = chat.turns[-1] if chat.turns else None
        return self._page(messages, history[-20:], last.sources_html if last else EMPTY_SOURCES,
                          last.sources if last else [], chat.chat_id, chat.scope, chat.title)

    def fresh(self) -> Any:
        return self._page([], [], EMPTY_SOURCES, [], None, [], "")

    def _page(self, messages: list[dict[str, Any]], history: list[Message], panel: str,
              payload: list[dict[str, Any]], chat_id: str | None, picks: list[str],
              title: str) -> Any:
        import gradio as gr

        return (messages, history, panel, payload, chat_id, self.chat_list.listed(chat_id),
                gr.update(choices=self.scope_options("", picks), value=picks),
                self.scope_text(picks), title, *self.viewer.closed())

    def chat_outputs(self) -> list[Any]:
        viewer = self.viewer
        return [self.chatbot, self.history_state, self.sources_view, self.sources_state,
                self.chat_id, self.chat_list.chats, self.scope_pick, self.scope_line,
                self.chat_list.title_box, viewer.view, viewer.state, self.chat_list.column,
                self.sources_column, viewer.column]

    def take_back_last(self, asked: str, chat: list[dict[str, Any]], history: list[Message],
                       chat_id: str | None) -> tuple[str, Any, Any]:
        """Remove the last question and its answer (shown, in the history and saved) and return
        the question. An answer that never finished (stopped, failed) is only on screen: its
        question is the one asked last. Nothing asked yet: an empty question."""
        if len(chat) < 2:
            return "", chat, history
        finished = len(history) >= 2 and message_text(chat[-2]) == escape_markdown(history[-2][1])
        if not finished:
            return asked, chat[:-2], history
        if chat_id:
            self.state.chats.drop_last_turn(chat_id)
        return history[-2][1], chat[:-2], history[:-2]

    def register_events(self) -> None:
        import gradio as gr

        outputs = [self.chatbot, self.history_state, self.sources_view, self.sources_state,
                   self.status, self.chat_id, self.chat_list.chats]
        inputs = [self.chatbot, self.history_state, self.chat_id, self.scope_pick]
        asked = gr.State("")  # the question, kept while the box is cleared for the next one
        viewer = self.viewer
        close_viewer = [viewer.view, viewer.state, self.chat_list.column, self.sources_column,
                        viewer.column]

        def take(question: str, key: str) -> Any:  # a new question: the viewer gives way to sources
            self.stops.arm(key)
            return (question, "", *viewer.closed())

        def take_again(*last_and_key: Any) -> Any:
            self.stops.arm(last_and_key[-1])
            return self.take_back_last(*last_and_key[:-1])

        key = self.session_key
        answering = {"concurrency_limit": CHAT_CONCURRENCY, "concurrency_id": "answer"}
        runs = []
        for trigger in (self.question.submit, self.send.click):
            runs.append(trigger(take, [self.question, key], [asked, self.question, *close_viewer],
                                queue=False).then(self.respond, [asked, *inputs, key], outputs,
                                                  **answering))
        last = [asked, self.chatbot, self.history_state, self.chat_id]
        runs.append(self.regenerate.click(
            take_again, [*last, key], [asked, self.chatbot, self.history_state],
            queue=False).then(self.respond, [asked, *inputs, key], outputs, **answering))
        self.edit_last.click(self.take_back_last, last,
                             [self.question, self.chatbot, self.history_state], queue=False)
        # Not ``cancels=``: the answer ends itself, so nothing it sends lands after "(stopped)".
        self.stop.click(self.stops.fire, key, None, queue=False)
        self.chat_list.register_events(self.reopen, self.fresh, self.chat_id, self.chat_outputs())
        self.chat_list.new_chat.click(None, None, None, cancels=runs)
        self.scope_pick.change(self.on_scope, [self.scope_pick, self.chat_id], self.scope_line)
        self.scope_find.change(self.on_find, [self.scope_find, self.scope_pick], self.scope_pick,
                               trigger_mode="always_last")  # typing: only the latest matters
        viewer.register_events(self.open_source, self.sources_state,
                               [self.chat_list.column, self.sources_column])
