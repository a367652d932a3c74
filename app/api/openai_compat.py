"""The routes: ``GET /v1/models`` and ``POST /v1/chat/completions``, plain and streamed.

``serve`` hands these routes to the browser app's FastAPI, so one port serves both. Every
request may carry ``Authorization: Bearer TOKEN``; with ``LOCALRAG_API_TOKEN`` set it must, or
it gets OpenAI's 401. The chain runs in a worker thread per request (``EventPump``): retrieval
at once, generation when the backend's gate admits it. A streamed answer sends the checked
sentences as they come, never the model's unchecked text; a client that goes away stops its
own generation (and only its own) and frees its place or slot in the gate.
"""

# No ``from __future__ import annotations``: FastAPI reads the routes' annotations, and
# ``Request`` is imported inside ``api_routes`` (the command line never pays for FastAPI).
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any, Protocol

from app.answer.pump import EventPump
from app.api.payloads import (
    MAX_BODY_BYTES,
    ApiError,
    chunk,
    closing_text,
    completion,
    completion_id,
    localrag_field,
    models_list,
    parse_request,
    quote_markdown,
    safe_markdown,
    scope_of,
    sse,
)
from ingest.errors import LocalragError

log = logging.getLogger(__name__)
# How long a request waits for the chain's next event before it looks at its client again.
POLL_S = 0.25


class Answering(Protocol):
    """What the routes read per request (the browser app's ``AppState`` is one): the chain may
    be replaced while the app runs (the Settings tab), so it is never kept."""

    chain: Any
    llm_problem: str
    library: Any


def token_ok(authorization: str | None, token: str) -> bool:
    """Whether an ``Authorization`` header carries ``token`` (always, when no token is set).
    Constant-time: the comparison takes as long for a near miss as for garbage."""
    if not token:
        return True
    scheme, _, value = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(),
                                                              token.encode())


def unauthorized() -> ApiError:
    return ApiError(401, "missing or wrong API key: send the LOCALRAG_API_TOKEN value as "
                    "'Authorization: Bearer TOKEN' (the API key of an OpenAI client)",
                    code="invalid_api_key")


def api_routes(app_state: Answering, token: str) -> list[Any]:
    """The endpoint's routes, ready for a FastAPI app (``FastAPI(routes=...)``)."""
    from fastapi import APIRouter, Request
    from fastapi.responses import JSONResponse, StreamingResponse

    router = APIRouter(prefix="/v1")
    started = int(time.time())

    def refused(err: ApiError) -> JSONResponse:
        return JSONResponse(err.body(), status_code=err.status)

    @router.get("/models")
    async def models(request: Request) -> Any:
        if not token_ok(request.headers.get("authorization"), token):
            return refused(unauthorized())
        return JSONResponse(models_list(started))

    @router.post("/chat/completions")
    async def chat_completions(request: Request) -> Any:
        try:
            if not token_ok(request.headers.get("authorization"), token):
                raise unauthorized()
            asked = parse_request(await _read_json(request))
            chain = app_state.chain
            if chain is None:
                raise ApiError(503, f"the language model is not available: "
                               f"{app_state.llm_problem}", kind="server_error")
            scope = scope_of(app_state.library.documents(), asked.documents) \
                if asked.documents else None
        except ApiError as err:
            return refused(err)
        if asked.ignored:
            log.debug("api: ignoring %s", ", ".join(asked.ignored))
        pump = EventPump(chain.stream(asked.question, list(asked.history), scope=scope),
                         name="localrag-api-answer")
        cid, created = completion_id(), int(time.time())
        if asked.stream:
            return StreamingResponse(_streamed(pump, cid, created), media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache"})
        try:
            answer = await _answer(pump, request)
        except ApiError as err:
            return refused(err)
        if answer is None:  # the client went away
            return JSONResponse({}, status_code=499)
        return JSONResponse(completion(answer, cid, created))

    return list(router.routes)


async def _read_json(request: Any) -> Any:
    """The body as JSON, at most ``MAX_BODY_BYTES``."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise ApiError(413, f"the request is over {MAX_BODY_BYTES >> 20} MB")
    data = bytearray()
    async for part in request.stream():
        data += part
        if len(data) > MAX_BODY_BYTES:
            raise ApiError(413, f"the request is over {MAX_BODY_BYTES >> 20} MB")
    try:
        return json.loads(data)
    except ValueError:
        raise ApiError(400, "the request body is not JSON") from None


async def _next(pump: EventPump) -> tuple[bool, Any]:
    from anyio import to_thread

    try:
        return await to_thread.run_sync(pump.get, POLL_S)
    except LocalragError as err:
        raise ApiError(503, str(err), kind="server_error") from err
    except ApiError:
        raise
    except Exception as err:  # never a stack trace to the client
        log.exception("api: answer failed")
        raise ApiError(500, f"unexpected error: {type(err).__name__}: {err}",
                       kind="server_error") from err


async def _answer(pump: EventPump, request: Any) -> Any:
    """The chain's final ``Answer``, or None when the client disconnected first (its
    generation is stopped)."""
    try:
        while True:
            more, event = await _next(pump)
            if not more:
                raise ApiError(500, "the chain ended without an answer", kind="server_error")
            if event is not None and event.kind == "done":
                return event.answer
            if await request.is_disconnected():
                log.info("api: client gone, answer stopped")
                return None
    finally:
        pump.stop()


async def _streamed(pump: EventPump, cid: str, created: int) -> AsyncIterator[str]:
    """Server-sent events: the role, the place in line while waiting, the quote and each checked
    sentence as it comes, then the footnotes with the sources (``localrag``), then [DONE]."""
    sent: list[str] = []
    place = 0
    try:
        yield sse(chunk(cid, created, {"role": "assistant", "content": ""}))
        while True:
            try:
                more, event = await _next(pump)
            except ApiError as err:
                yield sse(err.body())
                return
            if not more:
                break
            if event is None:
                continue
            if event.kind == "waiting" and event.place != place:
                place = event.place
                yield sse(chunk(cid, created, {}, extra={"waiting": place, "status": event.text}))
            elif event.kind == "quote" and event.answer is not None:
                sent.append(quote_markdown(event.answer.quote) + "\n\n")
                yield sse(chunk(cid, created, {"content": sent[-1]}))
            elif event.kind == "claim":
                after_quote = sent and sent[-1].endswith("\n\n")
                sent.append(("" if not sent or after_quote else " ") + safe_markdown(event.text))
                yield sse(chunk(cid, created, {"content": sent[-1]}))
            elif event.kind == "done" and event.answer is not None:
                answer = event.answer
                yield sse(chunk(cid, created, {"content": closing_text(answer, sent)}, "stop",
                                extra=localrag_field(answer)))
        yield sse("[DONE]")
    finally:
        # Also when the client disconnects: Starlette cancels this generator, and the chain
        # stops at its next event (the model's next token, or its next look at the queue).
        pump.stop()

