"""The ``openai`` backend: any OpenAI-compatible server (vLLM, llama.cpp's llama-server, LM Studio,
``python -m llama_cpp.server``) through LangChain's ``ChatOpenAI``.

Documents go to that server, so it is only ever used when the user sets
``LOCALRAG_LLM_BACKEND=openai``; ``auto`` never picks it. At open the server is probed once:
its models (the configured one must be there), its context window (vLLM's ``max_model_len``,
llama.cpp's ``/props``), its parallel slots and a ``/tokenize`` endpoint for exact counts.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from app.llm.backends import DEFAULT_SYSTEM_PROMPT, ChatBackend, LLMError, estimate_tokens
from ingest.settings import Settings

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 3.0
NUM_PREDICT = 512
# Packing counts every source sentence by sentence: one round trip each would cost ~1 ms on
# loopback and far more over a LAN, so counts are cached by text.
TOKEN_CACHE = 4096


@dataclass(frozen=True)
class ServerInfo:
    """What an OpenAI-compatible server says about itself."""

    models: list[str]
    n_ctx: int | None = None
    ctx_source: str = ""
    slots: int | None = None


def root_url(url: str) -> str:
    """The server's root for llama.cpp/vLLM extras (``/props``, ``/tokenize``): ``url`` less ``/v1``."""
    return url.rstrip("/").removesuffix("/v1")


def is_loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host in ("localhost", "::1") or host.startswith("127.")


def served_models(payload: dict[str, Any]) -> list[str]:
    """Model ids (and llama.cpp's aliases) of a ``/v1/models`` answer."""
    names: list[str] = []
    for entry in payload.get("data") or []:
        for name in [entry.get("id"), *(entry.get("aliases") or [])]:
            if name and str(name) not in names:
                names.append(str(name))
    return names


def context_window(models: dict[str, Any], props: dict[str, Any] | None,
                   model: str) -> tuple[int | None, str]:
    """(tokens, where from) of the server's context window per request, or (None, "").

    vLLM lists ``max_model_len`` per model in ``/v1/models``; llama.cpp's server gives each slot's
    ``n_ctx`` in ``/props`` (the ``-c`` value divided among ``--parallel`` slots) and in
    ``/v1/models`` ``meta.n_ctx``.
    """
    entries = models.get("data") or []
    entry = next((e for e in entries if model in (e.get("id"), *(e.get("aliases") or []))),
                 entries[0] if len(entries) == 1 else None)
    if entry and isinstance(entry.get("max_model_len"), int):
        return entry["max_model_len"], "server (/v1/models max_model_len)"
    n_ctx = ((props or {}).get("default_generation_settings") or {}).get("n_ctx")
    if isinstance(n_ctx, int) and n_ctx > 0:
        return n_ctx, "server (/props n_ctx)"
    meta_ctx = ((entry or {}).get("meta") or {}).get("n_ctx")
    if isinstance(meta_ctx, int) and meta_ctx > 0:
        return meta_ctx, "server (/v1/models meta.n_ctx)"
    return None, ""


def _headers(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def probe(url: str, api_key: str, model: str, timeout: float = PROBE_TIMEOUT_S) -> ServerInfo:
    """Ask the server for its models, context window and slots; one-line ``LLMError`` if it can't."""
    import httpx

    try:
        with httpx.Client(timeout=timeout, headers=_headers(api_key)) as client:
            answer = client.get(f"{url.rstrip('/')}/models")
            if answer.status_code == 401:
                raise LLMError(_unauthorized(url, api_key))
            answer.raise_for_status()
            models = answer.json()
            try:
                props_answer = client.get(f"{root_url(url)}/props")
                props = props_answer.json() if props_answer.status_code == 200 else None
            except (httpx.HTTPError, ValueError):
                props = None
    except httpx.TimeoutException:
        raise LLMError(f"the OpenAI-compatible server at {url} did not answer within {timeout:g} s: "
                       "is it overloaded? (LOCALRAG_OPENAI_URL)") from None
    except httpx.HTTPStatusError as err:
        raise LLMError(f"the server at {url} answered {err.response.status_code} to /models: "
                       "is LOCALRAG_OPENAI_URL its OpenAI API root (ending in /v1)?") from None
    except httpx.HTTPError:
        raise LLMError(_unreachable(url)) from None
    except ValueError:
        raise LLMError(f"the server at {url} is not an OpenAI-compatible server (its /models is "
                       "not JSON): check LOCALRAG_OPENAI_URL") from None
    n_ctx, source = context_window(models, props, model)
    slots = (props or {}).get("total_slots")
    return ServerInfo(served_models(models), n_ctx, source, slots if isinstance(slots, int) else None)


def _unreachable(url: str) -> str:
    return f"cannot reach the OpenAI-compatible server at {url}: is it running? (LOCALRAG_OPENAI_URL)"


def _unauthorized(url: str, api_key: str) -> str:
    what = "refused the API key" if api_key else "wants an API key"
    return f"the server at {url} {what} (401): set LOCALRAG_OPENAI_API_KEY"


def _no_model(url: str, model: str, served: list[str]) -> str:
    return (f"the server at {url} has no model {model!r}: it serves {', '.join(served) or 'none'} "
            "(LOCALRAG_OPENAI_MODEL)")


def pick_model(url: str, wanted: str, served: list[str]) -> tuple[str, str]:
    """(model, note): the configured model if served; the only one when none is configured."""
    if wanted:
        if wanted not in served:
            raise LLMError(_no_model(url, wanted, served))
        return wanted, ""
    if len(served) == 1:
        return served[0], f"; the only model it serves, {served[0]!r} (LOCALRAG_OPENAI_MODEL unset)"
    raise LLMError(f"the server at {url} serves {', '.join(served) or 'no model'}: name one in "
                   "LOCALRAG_OPENAI_MODEL")


def explain_openai_error(url: str, model: str, served: list[str],
                         timeout: float) -> Callable[[Exception], LLMError]:
    """Map the openai client's and httpx's exceptions to one line with the fix."""

    def explain(err: Exception) -> LLMError:
        import httpx
        import openai

        if isinstance(err, openai.APITimeoutError) or isinstance(err, httpx.TimeoutException):
            return LLMError(f"the server at {url} did not answer within {timeout:g} s "
                            "(LOCALRAG_OPENAI_TIMEOUT_S)")
        if isinstance(err, openai.AuthenticationError):
            return LLMError(_unauthorized(url, "set"))
        if isinstance(err, openai.NotFoundError):
            return LLMError(_no_model(url, model, served))
        if isinstance(err, openai.APIStatusError):
            return LLMError(f"the server at {url} refused the request ({err.status_code}): "
                            f"{_first_line(err.message)}")
        if isinstance(err, (httpx.RemoteProtocolError, httpx.ReadError)) or (
                isinstance(err, openai.APIConnectionError) and _started(err)):
            return LLMError(f"the server at {url} stopped in mid-answer: is it still running? "
                            "(LOCALRAG_OPENAI_URL)")
        if isinstance(err, (openai.APIConnectionError, httpx.ConnectError, ConnectionError)):
            return LLMError(_unreachable(url))
        if isinstance(err, openai.APIError):
            return LLMError(f"the server at {url} stopped with an error: {_first_line(err.message)}")
        return LLMError(f"the OpenAI-compatible server at {url} failed: {type(err).__name__}: "
                        f"{_first_line(str(err))}")

    return explain


def _started(err: Exception) -> bool:
    cause = err.__cause__ or err.__context__
    import httpx

    return isinstance(cause, (httpx.RemoteProtocolError, httpx.ReadError))


def _first_line(text: str) -> str:
    return (text or "").strip().splitlines()[0][:200] if (text or "").strip() else "no detail"


def server_tokenizer(url: str, api_key: str, model: str,
                     timeout: float = PROBE_TIMEOUT_S) -> tuple[Callable[[str], int] | None, str]:
    """(count_tokens, source) from the server's own tokenizer, or (None, "") when it has none.

    llama.cpp's server: POST /tokenize {"content"} → {"tokens"}; vLLM: POST /tokenize {"model",
    "prompt"} → {"count"}; llama-cpp-python's server: POST /extras/tokenize/count {"input"} →
    {"count"}.
    """
    import httpx

    client = httpx.Client(timeout=timeout, headers=_headers(api_key))
    root = root_url(url)
    shapes: list[tuple[str, Callable[[str], dict[str, Any]], Callable[[dict[str, Any]], int]]] = [
        (f"{root}/tokenize", lambda t: {"content": t, "add_special": False},
         lambda r: len(r["tokens"])),
        (f"{root}/tokenize", lambda t: {"model": model, "prompt": t, "add_special_tokens": False},
         lambda r: int(r["count"])),
        (f"{root}/extras/tokenize/count", lambda t: {"input": t, "model": model},
         lambda r: int(r["count"])),
    ]
    for endpoint, body, read in shapes:
        try:
            answer = client.post(endpoint, json=body("hello world"))
            if answer.status_code == 200 and read(answer.json()) > 0:
                break
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            continue
    else:
        client.close()
        return None, ""

    @functools.lru_cache(maxsize=TOKEN_CACHE)
    def count_tokens(text: str) -> int:
        try:
            answer = client.post(endpoint, json=body(text))
            answer.raise_for_status()
            return read(answer.json())
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as err:
            log.info("tokenize failed (%s): estimating", type(err).__name__)
            return estimate_tokens(text)

    return count_tokens, f"server ({endpoint.removeprefix(root)})"


def open_openai(settings: Settings, reason: str) -> ChatBackend:
    """The chat backend on the OpenAI-compatible server at ``settings.openai_url``."""
    import httpx
    from langchain_openai import ChatOpenAI

    url = settings.openai_url.rstrip("/")
    api_key = settings.openai_api_key.get_secret_value()
    info = probe(url, api_key, settings.openai_model, min(settings.openai_connect_timeout_s * 2,
                                                          PROBE_TIMEOUT_S * 2))
    model, note = pick_model(url, settings.openai_model, info.models)
    if not is_loopback(url):
        note += f"; questions and passages go to {urlsplit(url).hostname}"
    num_ctx = info.n_ctx or settings.openai_num_ctx
    ctx_source = info.ctx_source or "setting (LOCALRAG_OPENAI_NUM_CTX; the server does not say)"
    parallel = settings.openai_parallel or info.slots or 1
    counter, tokenizer = server_tokenizer(url, api_key, model)
    timeout = httpx.Timeout(settings.openai_timeout_s, connect=settings.openai_connect_timeout_s)
    chat = ChatOpenAI(
        model=model,
        base_url=url,
        # The openai client insists on a key; servers without one ignore it.
        api_key=api_key or "none",
        streaming=True,
        timeout=timeout,
        max_retries=0,  # a retry doubles the wait on a server that is down; the user retries
        max_tokens=NUM_PREDICT,
        temperature=settings.temperature if settings.temperature is not None else 0.1,
    )
    return ChatBackend(
        "openai", reason + note, model, chat, num_ctx, NUM_PREDICT, DEFAULT_SYSTEM_PROMPT,
        counter or estimate_tokens,
        parallel=parallel,
        details={"url": url, "api_key": "set (hidden)" if api_key else "none",
                 "context_source": ctx_source,
                 "parallel_slots": f"{parallel} ("
                 + ("setting" if settings.openai_parallel else
                    "server /props" if info.slots else "default") + ")",
                 "tokenizer": tokenizer or "estimate (3 bytes a token)",
                 "served_models": ", ".join(info.models)},
        explain=explain_openai_error(url, model, info.models, settings.openai_timeout_s),
    )
