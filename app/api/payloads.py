"""OpenAI's chat-completion shapes for localrag's answers. Pure: no I/O, no web framework.

A request's last user message is the question and its earlier user and assistant messages the
chat's history; system messages are ignored (the chain has its own). The answer's text is
Markdown: the checked sentences with their ``[n]`` markers and, after them, one footnote per
cited source (``[1] report.pdf p.3``); the sources themselves travel as data in the extra
top-level field ``localrag``. Text from documents and from the model is escaped on the way out:
no HTML, no link or image can form (a remote image in a chat client would leave the machine).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from app.answer.chain import Answer
from app.answer.prompting import MARKER, Message, Source, resolve_citations
from app.answer.quote import QUOTE_LEAD, Quote
from app.owner.scope import scope_doc_ids

MODEL_ID = "localrag"
OWNER = "localrag"
# Limits like the browser app's: the chain keeps the last 20 messages of a chat as history.
MAX_QUESTION_CHARS = 4000
MAX_MESSAGES = 100
MAX_HISTORY_MESSAGES = 20
MAX_BODY_BYTES = 1 << 20
FOOTNOTE_BREAK = "  \n"  # a Markdown line break: each footnote on its own line
WITHDRAWN = "Withdrawn:"


class ApiError(Exception):
    """A request localrag refuses, as OpenAI's error object (``status`` is the HTTP status)."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error",
                 code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.code = code
        self.param = param

    def body(self) -> dict[str, Any]:
        return {"error": {"message": str(self), "type": self.kind, "param": self.param,
                          "code": self.code}}


@dataclass(frozen=True)
class ChatRequest:
    """What the chain needs from a chat-completion request."""

    question: str
    history: tuple[Message, ...] = ()
    stream: bool = False
    documents: tuple[str, ...] = ()  # ``localrag.documents``: search only these (names, ids)
    ignored: tuple[str, ...] = field(default=())  # request fields localrag does not honour


def models_list(created: int) -> dict[str, Any]:
    """``GET /v1/models``: the one model, ``localrag``."""
    return {"object": "list", "data": [
        {"id": MODEL_ID, "object": "model", "created": created, "owned_by": OWNER}]}


def message_text(content: Any) -> str:
    """A message's text: a string, or OpenAI's content parts (only the text parts count)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content
                       if isinstance(p, dict) and p.get("type") == "text")
    raise ApiError(400, "a message's content must be a string or a list of text parts",
                   param="messages")


def parse_request(body: Any, max_question_chars: int = MAX_QUESTION_CHARS,
                  max_messages: int = MAX_MESSAGES) -> ChatRequest:
    """Check a ``/v1/chat/completions`` body and take out the question and the history.

    Raises:
        ApiError: 400 for a malformed request or one over the limits, 404 for another model.
    """
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    model = body.get("model")
    if model != MODEL_ID:
        raise ApiError(404, f"the model {model!r} does not exist: use {MODEL_ID!r}",
                       code="model_not_found", param="model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "messages must be a non-empty list", param="messages")
    if len(messages) > max_messages:
        raise ApiError(400, f"at most {max_messages} messages per request (got {len(messages)}): "
                       "send the recent part of the chat", param="messages")
    turns: list[Message] = []
    for message in messages:
        if not isinstance(message, dict) or message.get("role") not in (
                "system", "developer", "user", "assistant", "tool"):
            raise ApiError(400, "each message needs a role: system, user or assistant",
                           param="messages")
        if message["role"] in ("user", "assistant"):
            turns.append((message["role"], message_text(message.get("content"))))
    if not turns or turns[-1][0] != "user":
        raise ApiError(400, "the last message must be the user's question", param="messages")
    question = turns[-1][1].strip()
    if not question:
        raise ApiError(400, "the question is empty", param="messages")
    if len(question) > max_question_chars:
        raise ApiError(400, f"the question has {len(question):,} characters; at most "
                       f"{max_question_chars:,}", param="messages")
    history = tuple((role, plain_turn(text) if role == "assistant" else text)
                    for role, text in turns[:-1])[-MAX_HISTORY_MESSAGES:]
    extra = body.get("localrag") or {}
    documents = extra.get("documents", []) if isinstance(extra, dict) else []
    if not isinstance(documents, list) or not all(isinstance(d, str) for d in documents):
        raise ApiError(400, "localrag.documents must be a list of document names or ids",
                       param="localrag.documents")
    ignored = tuple(k for k in ("max_tokens", "max_completion_tokens", "temperature", "top_p",
                                "tools", "n") if body.get(k) is not None)
    return ChatRequest(question, history, bool(body.get("stream")), tuple(documents), ignored)


def plain_turn(text: str) -> str:
    """An earlier answer as history for the chain: without the quote, the footnotes, the
    markers or the escaping (a client sends back what it received)."""
    if f"\n\n{WITHDRAWN} " in text:  # what stands is the refusal after the mark
        text = text.split(f"\n\n{WITHDRAWN} ", 1)[1]
    paragraphs = [p for p in text.split("\n\n") if p.strip()
                  and not p.startswith(QUOTE_LEAD) and not _is_footnotes(p)]
    return resolve_citations(_unescape("\n\n".join(paragraphs)), []).text


def _is_footnotes(paragraph: str) -> bool:
    return all(re.match(r"\[\d{1,3}\] ", line) for line in paragraph.splitlines())


# ------------------------------------------------------------------------------ answer text
_UNSAFE = {"<": "&lt;", ">": "&gt;", "[": "\\[", "]": "\\]", "\\": "\\\\"}


def escape_text(text: str) -> str:
    """Text shown as text by a Markdown client: no HTML tag, and with ``[`` and ``]`` escaped
    no link, image or reference can form (``![x](http://...)`` would load a remote image)."""
    return "".join(_UNSAFE.get(ch, ch) for ch in text)


def _unescape(text: str) -> str:
    return re.sub(r"\\([\\\[\]])", r"\1", text).replace("&lt;", "<").replace("&gt;", ">")


def safe_markdown(text: str) -> str:
    """The answer's text escaped, its citation markers (``[1]``, ``[1, 2]``) kept as they are.
    A marker followed by ``(`` would open a link: the parenthesis is escaped."""
    out, last = [], 0
    for match in MARKER.finditer(text):
        out.append(escape_text(text[last:match.start()]))
        out.append(match.group(0))
        last = match.end()
        if text.startswith("(", last):
            out.append("\\(")
            last += 1
    out.append(escape_text(text[last:]))
    return "".join(out)


def footnote(source: Source) -> str:
    """``[n] file.pdf p.3``, escaped."""
    return f"[{source.number}] {escape_text(source.label)}"


def cited_sources(answer: Answer) -> list[Source]:
    """The sources the shown text cites (the quote's included), in number order."""
    return [] if answer.refused else sorted(answer.cited, key=lambda s: s.number)


def quote_markdown(quote: Quote) -> str:
    """The sources' own sentences shown above the answer, escaped (a document's text may hold
    what looks like a marker: only the quote's own marker is one)."""
    return f"{QUOTE_LEAD} \u201c{escape_text(quote.text)}\u201d [{quote.source}]"


def footnotes(answer: Answer) -> str:
    """The footnotes block (empty when nothing is cited)."""
    return FOOTNOTE_BREAK.join(footnote(s) for s in cited_sources(answer))


def refusal_text(answer: Answer) -> str:
    reason = f" ({answer.refusal_reason}.)" if answer.refusal_reason else ""
    return f"{answer.text}{reason}"


def answer_content(answer: Answer) -> str:
    """The whole message: the quote, the checked answer, the footnotes (Markdown, escaped)."""
    if answer.refused:
        return safe_markdown(refusal_text(answer))
    parts = [quote_markdown(answer.quote)] if answer.quote is not None else []
    parts += [safe_markdown(answer.text), footnotes(answer)]
    return "\n\n".join(p for p in parts if p)


def localrag_field(answer: Answer) -> dict[str, Any]:
    """The extra top-level field: the sources as data (raw text: a client escapes it for its
    own display), whether the answer was refused, and why."""
    cited = {s.number for s in cited_sources(answer)}
    return {
        "sources": [{"number": s.number, "file": s.file, "path": s.path, "page": s.page + 1,
                     "title": s.title, "text": s.text, "similarity": round(s.similarity, 4),
                     "cited": s.number in cited} for s in answer.sources],
        "refused": answer.refused,
        "refusal_reason": answer.refusal_reason,
        "quote": None if answer.quote is None or answer.refused else
        {"number": answer.quote.source, "text": answer.quote.text},
        "searched_for": answer.standalone_question,
        "left_out": list(answer.left_out),
        "timings_ms": {k: round(v, 1) for k, v in answer.timings.items()},
    }


# ------------------------------------------------------------------------------ envelopes
def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def completion(answer: Answer, cid: str, created: int) -> dict[str, Any]:
    """The non-streamed ``chat.completion`` object."""
    return {
        "id": cid, "object": "chat.completion", "created": created, "model": MODEL_ID,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer_content(answer)},
                     "finish_reason": "stop", "logprobs": None}],
        "usage": usage(answer),
        "localrag": localrag_field(answer),
    }


def usage(answer: Answer) -> dict[str, int]:
    """Prompt tokens as counted for packing; the answer's tokens are not counted (0)."""
    return {"prompt_tokens": answer.prompt_tokens, "completion_tokens": 0,
            "total_tokens": answer.prompt_tokens}


def chunk(cid: str, created: int, delta: dict[str, Any], finish_reason: str | None = None,
          extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """One ``chat.completion.chunk`` of a streamed answer."""
    out: dict[str, Any] = {
        "id": cid, "object": "chat.completion.chunk", "created": created, "model": MODEL_ID,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
    }
    if extra is not None:
        out["localrag"] = extra
    return out


def closing_text(answer: Answer, streamed: Sequence[str]) -> str:
    """What the last chunk adds to the text already streamed: the reason of a refusal, or,
    when the check withdrew an answer after its sentences went out, the refusal; then the
    footnotes."""
    sent = "".join(streamed).strip()
    if answer.refused:
        if not sent:
            return safe_markdown(refusal_text(answer))
        if sent != safe_markdown(answer.text):  # sentences went out, then the check refused
            return f"\n\n{WITHDRAWN} " + safe_markdown(refusal_text(answer))
        return safe_markdown(f" ({answer.refusal_reason}.)") if answer.refusal_reason else ""
    notes = footnotes(answer)
    return f"\n\n{notes}" if notes else ""


def sse(data: dict[str, Any] | str) -> str:
    """One server-sent event: ``data: {...}`` and a blank line."""
    import json

    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return f"data: {text}\n\n"


def scope_of(documents: Sequence[Any], picks: Sequence[str]) -> set[str]:
    """The doc ids that ``localrag.documents`` names: file names (``report.pdf``), or what the
    browser app's scope picker takes (doc ids, paths, folders).

    Raises:
        ApiError: 400 when nothing indexed matches (an empty scope would answer nothing).
    """
    named = {d.doc_id for d in documents if getattr(d, "status", "indexed") == "indexed"
             and any(PurePath(p).name in picks for p in d.paths)}
    found = named | scope_doc_ids(documents, picks)
    if not found:
        raise ApiError(400, f"no indexed document matches localrag.documents {list(picks)!r}: "
                       "name a file (report.pdf), a folder or a doc id", param="localrag.documents")
    return found
