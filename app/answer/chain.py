"""The retrieval chain (LangChain LCEL): standalone question -> hybrid retrieval -> packed prompt ->
streamed answer -> citations mapped to file and page.

Everything the model is trusted with is prose: which source a marker points to is decided here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.runnables import RunnableLambda

from app.answer.prompting import (
    REFUSAL,
    CitationFilter,
    Message,
    PackedPrompt,
    Source,
    clean_rewrite,
    focus_sources,
    is_refusal,
    needs_rewrite,
    number_sources,
    pack_prompt,
    resolve_citations,
    rewrite_messages,
)
from app.llm.backends import ChatBackend
from app.retrieval import Retriever
from ingest.errors import LocalragError

log = logging.getLogger(__name__)


class ContextTooSmall(LocalragError):
    """Not even one source fits in the model's window."""


@dataclass
class Answer:
    question: str
    standalone_question: str
    text: str = ""
    sources: list[Source] = field(default_factory=list)  # what the model was given
    cited: list[Source] = field(default_factory=list)  # what its markers point to, in order
    removed_markers: int = 0
    refused: bool = False  # the model said the sources do not answer
    not_found: bool = False  # retrieval found nothing relevant: the model was not asked
    best_similarity: float = 0.0
    left_out: list[str] = field(default_factory=list)
    prompt_tokens: int = 0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def closest(self) -> list[Source]:
        return self.sources

    def as_json(self) -> dict[str, Any]:
        def source(s: Source) -> dict[str, Any]:
            return {"n": s.number, "file": s.file, "path": s.path, "page": s.page,
                    "page_label": s.page + 1, "similarity": round(s.similarity, 4),
                    "text": s.text}

        return {
            "question": self.question, "standalone_question": self.standalone_question,
            "answer": self.text, "cited": [source(s) for s in self.cited],
            "sources": [source(s) for s in self.sources], "removed_markers": self.removed_markers,
            "refused": self.refused, "not_found": self.not_found,
            "best_similarity": round(self.best_similarity, 4), "left_out": self.left_out,
            "prompt_tokens": self.prompt_tokens,
            "timings_ms": {k: round(v, 1) for k, v in self.timings.items()},
        }


@dataclass
class Event:
    """What ``RagChain.stream`` yields: status lines, answer text as it arrives, then the end."""

    kind: str  # "status" | "token" | "done"
    text: str = ""
    answer: Answer | None = None


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


class RagChain:
    def __init__(self, retriever: Retriever, llm: ChatBackend, k: int = 4,
                 relevance_threshold: float = 0.3, source_chars: int = 800) -> None:
        self.retriever = retriever
        self.llm = llm
        self.k = k
        self.relevance_threshold = relevance_threshold
        self.source_chars = source_chars
        self.prepare = (RunnableLambda(self._standalone) | RunnableLambda(self._retrieve)
                        | RunnableLambda(self._pack))

    def _standalone(self, state: dict[str, Any]) -> dict[str, Any]:
        answer: Answer = state["answer"]
        if needs_rewrite(answer.question, state["history"]):
            started = time.perf_counter()
            raw = self.llm.complete(rewrite_messages(answer.question, state["history"]))
            answer.standalone_question = clean_rewrite(raw, answer.question)
            answer.timings["rewrite_ms"] = _ms(started)
            log.info("rewrote %r as %r", answer.question, answer.standalone_question)
        return state

    def _retrieve(self, state: dict[str, Any]) -> dict[str, Any]:
        answer: Answer = state["answer"]
        started = time.perf_counter()
        hits = self.retriever.search(answer.standalone_question, self.k)
        answer.timings["retrieve_ms"] = _ms(started)
        answer.sources = focus_sources(number_sources(hits), answer.standalone_question,
                                       self.source_chars)
        answer.best_similarity = max((s.similarity for s in answer.sources), default=0.0)
        answer.not_found = answer.best_similarity < self.relevance_threshold
        return state

    def _pack(self, state: dict[str, Any]) -> dict[str, Any]:
        answer: Answer = state["answer"]
        if answer.not_found:
            return state
        started = time.perf_counter()
        packed: PackedPrompt = pack_prompt(
            self.llm.system_prompt, answer.sources, state["history"], answer.question,
            self.llm.num_ctx, self.llm.num_predict, self.llm.count_tokens,
        )
        answer.timings["pack_ms"] = _ms(started)
        if answer.sources and not packed.sources:
            raise ContextTooSmall(
                f"the model's context window ({self.llm.num_ctx} tokens, {self.llm.num_predict} "
                "kept for the answer) leaves no room for any source: raise num_ctx in the Modelfile"
            )
        answer.prompt_tokens = packed.prompt_tokens
        answer.sources = packed.sources
        for source in packed.dropped_sources:
            answer.left_out.append(f"source [{source.number}] {source.label} (no room)")
        for number in packed.trimmed_sources:
            answer.left_out.append(f"source [{number}] shortened to fit")
        if packed.dropped_turns:
            answer.left_out.append(f"{packed.dropped_turns} earlier message(s) of the chat")
        if answer.left_out:
            log.warning("context window %d tokens: left out %s", self.llm.num_ctx,
                        "; ".join(answer.left_out))
        state["messages"] = packed.messages
        return state

    def stream(self, question: str, history: Sequence[Message] = ()) -> Iterator[Event]:
        """Answer ``question`` in the context of ``history``, streaming the text."""
        started = time.perf_counter()
        answer = Answer(question, question)
        state = self.prepare.invoke({"answer": answer, "history": list(history)})
        if answer.not_found:
            answer.text = REFUSAL
            answer.refused = True
            answer.timings["total_ms"] = _ms(started)
            yield Event("token", REFUSAL)
            yield Event("done", answer=answer)
            return
        citations = CitationFilter({s.number for s in answer.sources})
        raw: list[str] = []
        for piece in self.llm.stream(state["messages"]):
            if not raw:
                answer.timings["first_token_ms"] = _ms(started)
            raw.append(piece)
            shown = citations.feed(piece)
            if shown:
                yield Event("token", shown)
        tail = citations.flush()
        if tail:
            yield Event("token", tail)
        cited = resolve_citations("".join(raw), answer.sources)
        answer.text, answer.cited = cited.text, cited.cited
        answer.removed_markers, answer.refused = cited.removed_markers, is_refusal(cited.text)
        answer.timings["total_ms"] = _ms(started)
        yield Event("done", answer=answer)

    def answer(self, question: str, history: Sequence[Message] = ()) -> Answer:
        for event in self.stream(question, history):
            if event.kind == "done" and event.answer is not None:
                return event.answer
        raise RuntimeError("the chain ended without an answer")


class Conversation:
    """One chat: its history, kept without citation markers (their numbers change every turn)."""

    def __init__(self, chain: RagChain, max_messages: int = 20) -> None:
        self.chain = chain
        self.history: list[Message] = []
        self.max_messages = max_messages

    def stream(self, question: str) -> Iterator[Event]:
        for event in self.chain.stream(question, self.history):
            if event.kind == "done" and event.answer is not None:
                plain = resolve_citations(event.answer.text, []).text
                self.history += [("user", question), ("assistant", plain)]
                self.history = self.history[-self.max_messages:]
            yield event
