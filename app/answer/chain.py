"""The retrieval chain (LangChain LCEL): standalone question -> hybrid retrieval -> answerability
check -> packed prompt -> streamed answer, checked sentence by sentence against its sources.

Everything the model is trusted with is prose: whether a sentence is supported, and which source
its marker points to, is decided here (``claims``), and the sources are out before the first token.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

from langchain_core.runnables import RunnableLambda

from app.answer.answerability import missing_question_terms
from app.answer.claims import CheckedAnswer, Claim, ClaimStream
from app.answer.prompting import (
    REFUSAL,
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
from app.answer.quote import Quote, best_quote, locate
from app.llm.backends import ChatBackend
from app.llm.gate import Gate, waiting_line
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
    refused: bool = False  # no answer shown: nothing relevant, or the model or the check refused
    not_found: bool = False  # refused before generation: the model was not asked
    refusal_reason: str = ""  # why, in words for the user ("" when answered)
    claims: list[Claim] = field(default_factory=list)  # each sentence and its check
    quote: Quote | None = None  # the source sentences shown before the model's answer
    withheld: str = ""  # the model's text when the check turned it into the refusal
    best_similarity: float = 0.0
    left_out: list[str] = field(default_factory=list)
    prompt_tokens: int = 0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def closest(self) -> list[Source]:
        return self.sources

    @property
    def shown_text(self) -> str:
        """What the user reads: the quote (when the answer stands) and the checked answer."""
        if self.quote is None or self.refused:
            return self.text
        return f"{self.quote.render()}\n\n{self.text}"

    def evidence(self) -> dict[int, list[tuple[int, int]]]:
        """Per source number, the spans shown as supporting the answer: the quote's and those of
        the supported statements."""
        spans: dict[int, list[tuple[int, int]]] = {}
        if self.quote is not None and not self.refused:
            spans.setdefault(self.quote.source, []).append((self.quote.start, self.quote.end))
        for claim in self.claims:
            if claim.evidence is not None and claim.supported:
                spans.setdefault(claim.evidence.source, []).append(
                    (claim.evidence.start, claim.evidence.end))
        return spans

    def as_json(self) -> dict[str, Any]:
        def source(s: Source) -> dict[str, Any]:
            return {"n": s.number, "file": s.file, "path": s.path, "page": s.page,
                    "page_label": s.page + 1, "similarity": round(s.similarity, 4),
                    "text": s.text}

        return {
            "question": self.question, "standalone_question": self.standalone_question,
            "answer": self.text, "shown_answer": self.shown_text,
            "quote": None if self.quote is None else
            {"n": self.quote.source, "text": self.quote.text, "start": self.quote.start,
             "end": self.quote.end},
            "cited": [source(s) for s in self.cited],
            "sources": [source(s) for s in self.sources], "removed_markers": self.removed_markers,
            "refused": self.refused, "not_found": self.not_found,
            "refusal_reason": self.refusal_reason, "withheld": self.withheld,
            "claims": [{"text": c.text, "verdict": c.verdict, "cited": list(c.cited),
                        "shown": list(c.shown), "coverage": round(c.coverage, 3),
                        "missing": list(c.missing),
                        "evidence": None if c.evidence is None else
                        {"n": c.evidence.source, "start": c.evidence.start, "end": c.evidence.end}}
                       for c in self.claims],
            "best_similarity": round(self.best_similarity, 4), "left_out": self.left_out,
            "prompt_tokens": self.prompt_tokens,
            "timings_ms": {k: round(v, 1) for k, v in self.timings.items()},
        }


@dataclass
class Event:
    """What ``RagChain.stream`` yields: status lines, answer text as it arrives, then the end."""

    # "sources": retrieval done (before the model starts); "waiting": in line for the model
    # (``place`` > 0, repeated while waiting) or its turn came (``place`` 0); "token": the model's
    # text as it comes, markers held back; "claim": that sentence checked and rendered; "done":
    # the end.
    kind: str
    text: str = ""
    answer: Answer | None = None
    claims: list[Claim] = field(default_factory=list)
    place: int = 0


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


# How often a chat waiting for the model hears its place in line (and can be stopped).
WAIT_POLL_S = 0.5
# Prompt processing speed assumed before the first answer has measured it (tokens/s; measured
# 46-120 on these 2 cores for Qwen2.5-Coder-1.5B, docs/BENCHMARKS.md).
DEFAULT_PROMPT_RATE = 60.0


class RagChain:
    def __init__(self, retriever: Retriever, llm: ChatBackend, k: int = 3,
                 relevance_threshold: float = 0.3, source_chars: Sequence[int] = (800, 600, 400),
                 check_claims: bool = True, check_answerability: bool = True,
                 quote: bool = True, gate: Gate | None = None) -> None:
        self.retriever = retriever
        self.llm = llm
        # Every chat's generations queue here, fairly; retrieval runs beside them. The chain
        # keeps no state of a question on itself (only the learned prompt rate): each call has
        # its own Answer, history and sources.
        self.gate = gate or Gate(getattr(llm, "parallel", 1))
        self.k = k
        self.relevance_threshold = relevance_threshold
        self.source_chars = list(source_chars)
        self.check_claims = check_claims
        self.check_answerability = check_answerability
        self.quote = quote
        self.prompt_rate = DEFAULT_PROMPT_RATE  # tokens/s, updated from every answer
        self.prepare = (RunnableLambda(self._standalone) | RunnableLambda(self._retrieve)
                        | RunnableLambda(self._pack))

    def _standalone(self, state: dict[str, Any]) -> dict[str, Any]:
        answer: Answer = state["answer"]
        if needs_rewrite(answer.question, state["history"]):
            started = time.perf_counter()
            with self.gate.hold():
                raw = self.llm.complete(rewrite_messages(answer.question, state["history"]))
            answer.standalone_question = clean_rewrite(raw, answer.question)
            answer.timings["rewrite_ms"] = _ms(started)
            log.info("rewrote %r as %r", answer.question, answer.standalone_question)
        return state

    def _retrieve(self, state: dict[str, Any]) -> dict[str, Any]:
        answer: Answer = state["answer"]
        started = time.perf_counter()
        hits = self.retriever.search(answer.standalone_question, self.k, doc_ids=state.get("scope"))
        answer.timings["retrieve_ms"] = _ms(started)
        passages = number_sources(hits)
        answer.best_similarity = max((s.similarity for s in passages), default=0.0)
        if answer.best_similarity < self.relevance_threshold:
            answer.not_found = True
            answer.refusal_reason = "nothing in your documents is close to this question"
        elif self.check_answerability:
            self._check_answerability(answer, [h.text for h in hits], state.get("scope"))
        anchors = {}
        if self.quote and not answer.not_found:
            # Found on the whole passages, then kept whole in the focused source the model reads.
            quote = best_quote(answer.standalone_question, [(s.number, s.text) for s in passages])
            if quote is not None:
                anchors[quote.source] = (quote.start, quote.end)
                answer.quote = quote
        answer.sources = focus_sources(passages, answer.standalone_question, self.source_chars,
                                       anchors)
        if answer.quote is not None:
            answer.quote = locate(answer.quote, answer.sources)
        return state

    def _check_answerability(self, answer: Answer, passages: list[str],
                             scope: Collection[str] | None) -> None:
        """Refuse before generation when the documents (those of ``scope``, when given) lack
        what the question names. Only the user's own words count: a follow-up's rewrite is the
        model's text, and a small model's rewrite can carry words the user never asked about."""
        question = answer.question
        unknown_terms = getattr(self.retriever, "unknown_terms", None)
        unknown = unknown_terms(question, doc_ids=scope) if unknown_terms else []
        if unknown:
            answer.not_found = True
            answer.refusal_reason = "your documents never mention " + _quoted_list(unknown)
            return
        missing = missing_question_terms(question, passages)
        if missing:
            answer.not_found = True
            answer.refusal_reason = "the closest passages do not mention " + _quoted_list(missing)

    def _pack(self, state: dict[str, Any]) -> dict[str, Any]:
        answer: Answer = state["answer"]
        if answer.not_found:
            return state
        started = time.perf_counter()
        # A rewritten follow-up is asked as the question the sources were found for: the 0.5B
        # test model answered "and when does that work start?" from another document's page.
        packed: PackedPrompt = pack_prompt(
            self.llm.system_prompt, answer.sources, state["history"], answer.standalone_question,
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
        if answer.quote is not None:  # a source trimmed to fit may have lost it
            answer.quote = locate(answer.quote, answer.sources)
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

    def reading_line(self, answer: Answer) -> str:
        """What the user reads while the model processes the prompt."""
        seconds = answer.prompt_tokens / self.prompt_rate if self.prompt_rate else 0
        n = len(answer.sources)
        return (f"reading {n} passage{'s' if n != 1 else ''}, {answer.prompt_tokens:,} tokens, "
                f"~{max(1, round(seconds))} s")

    def stream(self, question: str, history: Sequence[Message] = (),
               scope: Collection[str] | None = None) -> Iterator[Event]:
        """Answer ``question`` in the context of ``history``.

        Args:
            question: The user's question, as typed.
            history: The chat so far, oldest first.
            scope: Search only these documents' chunks (doc ids; see
                ``app.owner.scope.scope_doc_ids``), so no other document is a source or is
                cited. None: the whole library; empty: nothing is searched (not found).

        Yields:
            The sources first, then the answer sentence by sentence as each is checked, then
            the end (``done``).
        """
        started = time.perf_counter()
        answer = Answer(question, question)
        state = self.prepare.invoke({"answer": answer, "history": list(history), "scope": scope})
        answer.timings["sources_ms"] = _ms(started)
        if answer.not_found:
            answer.text = REFUSAL
            answer.refused = True
            answer.timings["total_ms"] = _ms(started)
            yield Event("sources", answer=answer)
            yield Event("claim", REFUSAL)
            yield Event("done", answer=answer)
            return
        yield Event("sources", self.reading_line(answer), answer=answer)
        if answer.quote is not None:
            yield Event("quote", answer.quote.render(), answer=answer)
        checker = ClaimStream(answer.sources, answer.standalone_question,
                              check=self.check_claims)
        raw: list[str] = []
        # Closing this generator (Stop, a client gone) leaves the line or frees the slot, and
        # closes the model's stream, which ends llama.cpp's generation loop.
        with self.gate.join() as ticket:
            if not ticket.wait(0):
                waited = time.perf_counter()
                while not ticket.wait(WAIT_POLL_S):
                    yield Event("waiting", waiting_line(ticket.place), place=ticket.place)
                answer.timings["queue_ms"] = _ms(waited)
                yield Event("waiting", self.reading_line(answer))
            generation_started = time.perf_counter()
            with closing(self.llm.stream(state["messages"])) as pieces:
                for piece in pieces:
                    if not raw:
                        answer.timings["first_token_ms"] = _ms(started)
                        self._learn_rate(answer, generation_started)
                    raw.append(piece)
                    for item in checker.feed(piece):
                        yield _event(item)
        for claim in checker.flush():
            yield _event(claim)
        self._finish(answer, "".join(raw), checker.answer)
        answer.timings["total_ms"] = _ms(started)
        yield Event("done", answer=answer)

    def _learn_rate(self, answer: Answer, generation_started: float) -> None:
        seconds = time.perf_counter() - generation_started  # prompt processing, not the queue
        if seconds > 0.05 and answer.prompt_tokens:
            self.prompt_rate = 0.5 * self.prompt_rate + 0.5 * answer.prompt_tokens / seconds

    def _finish(self, answer: Answer, raw: str, checked: CheckedAnswer) -> None:
        answer.claims = checked.claims
        by_number = {s.number: s for s in answer.sources}
        answer.removed_markers = resolve_citations(raw, answer.sources).removed_markers
        if is_refusal(resolve_citations(raw, []).text):
            answer.text, answer.refused = REFUSAL, True
            answer.refusal_reason = "the model found no answer in the passages"
            return
        if not any(c.text for c in checked.claims):  # markers only ("[1] [2]"): no answer
            answer.withheld = raw
            answer.text, answer.refused = REFUSAL, True
            answer.refusal_reason = "the model gave no answer, only source numbers"
            return
        if self.check_claims and checked.mostly_unsupported:
            answer.withheld = checked.text
            answer.text, answer.refused = REFUSAL, True
            answer.refusal_reason = (f"{len(checked.unsupported)} of {len(checked.checked_claims)} "
                                     "statements of the model's answer are not in the passages")
            return
        answer.text = checked.text
        numbers = dict.fromkeys([*([answer.quote.source] if answer.quote else []),
                                 *checked.cited_numbers])
        answer.cited = [by_number[n] for n in numbers if n in by_number]

    def answer(self, question: str, history: Sequence[Message] = (),
               scope: Collection[str] | None = None) -> Answer:
        """The whole answer at once (``stream``'s last event); ``scope`` as for ``stream``."""
        for event in self.stream(question, history, scope):
            if event.kind == "done" and event.answer is not None:
                return event.answer
        raise RuntimeError("the chain ended without an answer")


def _event(item: str | Claim) -> Event:
    """Unchecked text as it arrives (``token``, no markers) or a checked sentence (``claim``)."""
    if isinstance(item, str):
        return Event("token", item)
    return Event("claim", item.render(), claims=[item])


def _quoted_list(terms: list[str]) -> str:
    return ", ".join(f"\u201c{t}\u201d" for t in terms[:4])


class Conversation:
    """One chat: its history, kept without citation markers (their numbers change every turn)."""

    def __init__(self, chain: RagChain, max_messages: int = 20) -> None:
        self.chain = chain
        self.history: list[Message] = []
        self.max_messages = max_messages

    def stream(self, question: str, scope: Collection[str] | None = None) -> Iterator[Event]:
        for event in self.chain.stream(question, self.history, scope):
            if event.kind == "done" and event.answer is not None:
                plain = resolve_citations(event.answer.text, []).text
                self.history += [("user", question), ("assistant", plain)]
                self.history = self.history[-self.max_messages:]
            yield event
