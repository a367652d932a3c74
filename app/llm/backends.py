"""The LLM component: Ollama when it serves the configured model, llama.cpp in process otherwise,
or an OpenAI-compatible server when the user asks for one (``app.llm.openai_backend``).

Both are LangChain chat models behind one ``ChatBackend`` that knows its context size, counts
tokens with the model's tokenizer (context packing needs real counts), serialises generation
(a llama.cpp ``Llama`` is not thread-safe) and turns every server failure into one line with the fix.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.llm.catalog import CATALOG, find_model, install, model_for_file
from app.llm.llamacpp_kernels import llama_cpp_env, repacking, without_extra_buffers
from app.llm.modelfile import Modelfile, read_modelfile
from ingest.errors import LocalragError
from ingest.settings import Settings

log = logging.getLogger(__name__)

BACKENDS = ("auto", "ollama", "llamacpp", "openai")
PROBE_TIMEOUT_S = 2.0
LIST_TIMEOUT_S = 1.0  # the Settings tab lists Ollama's models while the page waits
# What auto adds to the probe's result when it falls back; stripped again for ``auto_reason``.
AUTO_FALLBACK = ": using the embedded model"
# Bytes per token is about 4 for English with LLaMA/Qwen vocabularies; 3 over-counts on purpose
# when no tokenizer is at hand, so packing errs on the side of fitting.
FALLBACK_BYTES_PER_TOKEN = 3


class LLMError(LocalragError):
    """The language model could not answer; the message says how to fix it."""


@dataclass
class ChatBackend:
    """A ready chat model and what the chain needs to know about it."""

    name: str
    reason: str
    model: str
    chat_model: Any
    num_ctx: int
    num_predict: int
    system_prompt: str
    count_tokens: Callable[[str], int]
    details: dict[str, Any] = field(default_factory=dict)
    # Generations the server runs at once (llama-server --parallel slots); a queue in front of
    # the backend may let this many through.
    parallel: int = 1
    explain: Callable[[Exception], LLMError] = field(default=lambda err: LLMError(str(err)))
    _slots: threading.Semaphore = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # The last guard: callers queue fairly in app.llm.gate; this only caps what runs at once.
        self._slots = threading.BoundedSemaphore(max(1, self.parallel))

    def stream(self, messages: Sequence[tuple[str, str]]) -> Iterator[str]:
        """Yield the answer's text as it is generated; at most ``parallel`` generations at once."""
        with self._slots:
            try:
                for chunk in self.chat_model.stream(list(messages)):
                    if chunk.content:
                        yield str(chunk.content)
            except LLMError:
                raise
            except Exception as err:
                raise self.explain(err) from err

    def complete(self, messages: Sequence[tuple[str, str]]) -> str:
        return "".join(self.stream(messages))


# ---------------------------------------------------------------- Ollama


def _ollama_names(client: Any) -> set[str]:
    names = set()
    for model in client.list().models:
        name = str(model.model)
        names.add(name)
        if name.endswith(":latest"):
            names.add(name.removesuffix(":latest"))
    return names


def ollama_models(url: str, timeout: float = LIST_TIMEOUT_S) -> list[str] | None:
    """The models Ollama at ``url`` lists (``:latest`` dropped), or None when it does not answer.

    Args:
        url: Where Ollama listens.
        timeout: Seconds to wait for each step of the request (a page waits on it).
    """
    import ollama

    try:
        listed = ollama.Client(host=url, timeout=timeout).list().models
    except Exception as err:  # connection refused, timeout, not an Ollama server
        log.info("Ollama does not answer at %s (%s)", url, type(err).__name__)
        return None
    return sorted({str(m.model).removesuffix(":latest") for m in listed})


def ollama_status(url: str, model: str, timeout: float = PROBE_TIMEOUT_S) -> tuple[bool, str]:
    """(usable, why): whether Ollama answers at ``url`` and has ``model``."""
    import ollama

    client = ollama.Client(host=url, timeout=timeout)
    try:
        names = _ollama_names(client)
    except Exception as err:  # connection refused, timeout, not an Ollama server
        return False, f"Ollama is not reachable at {url} ({type(err).__name__})"
    if model not in names:
        return False, f"Ollama at {url} has no model {model!r}"
    return True, f"Ollama at {url} serves {model!r}"


def explain_ollama_error(url: str, model: str) -> Callable[[Exception], LLMError]:
    def explain(err: Exception) -> LLMError:
        import httpx
        import ollama

        if isinstance(err, (httpx.ConnectError, ConnectionError)):
            return LLMError(f"Ollama is not reachable at {url}: start it with `ollama serve` "
                            "(or set LOCALRAG_LLM_BACKEND=llamacpp)")
        if isinstance(err, httpx.TimeoutException):
            return LLMError(f"Ollama at {url} did not answer in time: check `ollama ps`")
        if isinstance(err, ollama.ResponseError):
            if err.status_code == 404 or "not found" in str(err.error).lower():
                return LLMError(f"Ollama has no model {model!r}: create it with "
                                f"`localrag model create {model}` (or `ollama pull {model}`)")
            return LLMError(f"Ollama stopped with an error: {err.error}")
        return LLMError(f"Ollama failed: {type(err).__name__}: {err}")

    return explain


def _ollama_tokenizer(url: str, model: str) -> Callable[[str], int] | None:
    """The model's own tokenizer, when Ollama's GGUF blob is on this machine (Ollama shares no
    tokenize endpoint): llama.cpp loads just the vocabulary in well under a second."""
    import ollama

    try:
        shown = ollama.Client(host=url, timeout=PROBE_TIMEOUT_S).show(model)
        base = next((line.split(" ", 1)[1].strip() for line in (shown.modelfile or "").splitlines()
                     if line.startswith("FROM ")), "")
        if base and Path(base).is_file():
            return llama_tokenizer(Path(base))
    except Exception as err:
        log.info("no local tokenizer for %s (%s)", model, err)
    return None


def llama_tokenizer(path: Path) -> Callable[[str], int]:
    from llama_cpp import Llama

    vocab = Llama(str(path), vocab_only=True, verbose=False)
    return lambda text: len(vocab.tokenize(text.encode(), add_bos=False, special=True))


def estimate_tokens(text: str) -> int:
    return len(text.encode()) // FALLBACK_BYTES_PER_TOKEN + 1


def open_ollama(settings: Settings, modelfile: Modelfile | None, reason: str) -> ChatBackend:
    import httpx
    import ollama
    from langchain_ollama import ChatOllama

    url, model = settings.ollama_url, settings.ollama_model
    parameters: dict[str, Any] = dict(modelfile.parameters) if modelfile else {}
    if not modelfile:
        try:
            shown = ollama.Client(host=url, timeout=PROBE_TIMEOUT_S).show(model)
            for line in (shown.parameters or "").splitlines():
                key, _, value = line.partition(" ")
                if key in ("num_ctx", "num_predict", "num_gpu"):
                    parameters[key] = int(value.strip())
        except Exception as err:
            log.info("could not read %s's parameters (%s)", model, err)
    num_ctx = int(parameters.get("num_ctx", 4096))
    num_predict = int(parameters.get("num_predict", 512))
    num_gpu = settings.gpu_layers if settings.gpu_layers is not None else parameters.get("num_gpu")
    chat = ChatOllama(
        model=model,
        base_url=url,
        num_ctx=num_ctx,  # always explicit: Ollama silently truncates to its own default
        num_gpu=num_gpu,
        num_predict=num_predict,
        temperature=settings.temperature if settings.temperature is not None
        else float(parameters.get("temperature", 0.1)),
        keep_alive=settings.keep_alive,
        client_kwargs={"timeout": httpx.Timeout(600.0, connect=5.0)},
    )
    counter = _ollama_tokenizer(url, model)
    return ChatBackend(
        "ollama", reason, model, chat, num_ctx, num_predict,
        (modelfile.system if modelfile else "") or DEFAULT_SYSTEM_PROMPT,
        counter or estimate_tokens,
        details={"url": url, "num_gpu": num_gpu, "keep_alive": settings.keep_alive,
                 "tokenizer": "model's own" if counter else "estimate (3 bytes a token)"},
        explain=explain_ollama_error(url, model),
    )


# ---------------------------------------------------------------- llama.cpp


def resolve_gguf(settings: Settings, modelfile: Modelfile) -> Path:
    """The GGUF to run: the ``gguf`` setting (catalog name or path), else the Modelfile's FROM."""
    if settings.gguf:
        if settings.gguf in CATALOG:
            return find_model(settings.gguf).path(settings.models_dir)
        return Path(settings.gguf).expanduser()
    path = modelfile.base_path()
    if path is None:
        raise LLMError(f"{modelfile.path}: FROM {modelfile.base} is an Ollama library model; the "
                       "embedded backend needs a .gguf file (set LOCALRAG_GGUF)")
    catalog_model = model_for_file(path)
    if catalog_model is not None:
        # The catalog's copy lives in the data directory whatever the Modelfile's relative path.
        return catalog_model.path(settings.models_dir)
    return path


def ensure_gguf(path: Path, on_status: Callable[[str], None]) -> Path:
    """Install a missing catalog model on first use; any other missing file is an error."""
    if path.is_file():
        return path
    catalog_model = model_for_file(path)
    if catalog_model is None:
        raise LLMError(f"model file not found: {path} (install one: localrag models)")
    on_status(f"first use: installing the {catalog_model.name} model, once")
    return install(catalog_model, path.parent, on_status)


def open_llamacpp(settings: Settings, modelfile: Modelfile, reason: str,
                  on_status: Callable[[str], None] = lambda _: None) -> ChatBackend:
    path = ensure_gguf(resolve_gguf(settings, modelfile), on_status)
    llama_cpp_env(settings.llm_threads)
    import llama_cpp
    from langchain_community.chat_models import ChatLlamaCpp

    num_ctx = modelfile.int_parameter("num_ctx", 4096)
    num_predict = modelfile.int_parameter("num_predict", 512)
    gpu_layers = settings.gpu_layers if settings.gpu_layers is not None else \
        modelfile.int_parameter("num_gpu", 0)
    on_status(f"loading {path.name} ...")
    repack = repacking(settings, llama_cpp)
    try:
        with nullcontext() if repack == "on" else without_extra_buffers(llama_cpp):
            chat = ChatLlamaCpp(
                model_path=str(path),
                n_ctx=num_ctx,
                n_batch=512,  # LangChain's default of 8 makes prompt processing several times slower
                rope_freq_base=0,  # 0 = the GGUF's own; LangChain's 10000 breaks Qwen and SmolLM
                n_threads=settings.llm_threads,
                model_kwargs={"n_threads_batch": settings.llm_threads},
                n_gpu_layers=gpu_layers,
                use_mmap=settings.llm_mmap,
                max_tokens=num_predict,
                temperature=settings.temperature if settings.temperature is not None
                else modelfile.float_parameter("temperature", 0.1),
                top_p=modelfile.float_parameter("top_p", 0.9),
                top_k=modelfile.int_parameter("top_k", 40),
                repeat_penalty=modelfile.float_parameter("repeat_penalty", 1.1),
                stop=modelfile.stop or None,
                verbose=False,
            )
    except ValueError as err:
        raise LLMError(f"llama.cpp could not load {path}: {err}") from None
    client = chat.client

    def count_tokens(text: str) -> int:
        return len(client.tokenize(text.encode(), add_bos=False, special=True))

    offload = bool(llama_cpp.llama_supports_gpu_offload())
    return ChatBackend(
        "llamacpp", reason, str(path), chat, num_ctx, num_predict,
        modelfile.system or DEFAULT_SYSTEM_PROMPT, count_tokens,
        details={"threads": settings.llm_threads, "gpu_layers": gpu_layers if offload else 0,
                 "mmap": settings.llm_mmap,
                 "weight_repacking": repack,
                 "gpu_offload_supported": offload,
                 "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "")},
        explain=lambda err: LLMError(f"llama.cpp failed: {type(err).__name__}: {err}"),
    )


DEFAULT_SYSTEM_PROMPT = (
    "You answer questions using only the numbered sources from the user's documents given in "
    "each message. Cite every sentence with the number of the source it comes from, like [1]. "
    "If the sources do not contain the answer, reply exactly: I could not find this in your "
    "documents."
)


PROJECT_ROOT = Path(__file__).resolve().parents[2]


def find_modelfile(path: Path) -> Path:
    """A relative Modelfile path is looked up from the current folder, then from the project's
    own folder, so ``localrag`` works from anywhere."""
    if path.is_absolute() or path.exists():
        return path
    bundled = PROJECT_ROOT / path
    return bundled if bundled.exists() else path


def ollama_modelfile(settings: Settings) -> Modelfile | None:
    """The project's Modelfile for the Ollama model, when one is named after it."""
    path = find_modelfile(settings.modelfile.parent / f"{settings.ollama_model}.Modelfile")
    return read_modelfile(path) if path.is_file() else None


def choose_backend(settings: Settings) -> tuple[str, str]:
    """(backend, reason) for the ``llm_backend`` setting; 'auto' asks Ollama first.

    'auto' never picks 'openai': that sends the documents to another server, so only the user
    chooses it (LOCALRAG_LLM_BACKEND=openai).
    """
    choice = settings.llm_backend
    if choice not in BACKENDS:
        raise LLMError(f"unknown llm_backend {choice!r}; allowed: {', '.join(BACKENDS)}")
    if choice == "ollama":
        return "ollama", "set by llm_backend"
    if choice == "llamacpp":
        return "llamacpp", "set by llm_backend"
    if choice == "openai":
        return "openai", "set by llm_backend"
    usable, why = ollama_status(settings.ollama_url, settings.ollama_model)
    return ("ollama", why) if usable else ("llamacpp", why + AUTO_FALLBACK)


def open_llm(settings: Settings, on_status: Callable[[str], None] = lambda _: None) -> ChatBackend:
    """Factory: the chat backend the settings ask for."""
    backend, reason = choose_backend(settings)
    log.info("LLM backend %s: %s", backend, reason)
    if backend == "ollama":
        llm = open_ollama(settings, ollama_modelfile(settings), reason)
    elif backend == "openai":
        from app.llm.openai_backend import open_openai

        llm = open_openai(settings, reason)
    else:
        modelfile = read_modelfile(find_modelfile(settings.modelfile))
        llm = open_llamacpp(settings, modelfile, reason, on_status)
    if settings.llm_backend == "auto":
        # What auto's probe found, so the Settings tab can say why it chose this backend.
        llm.details["auto_reason"] = reason.removesuffix(AUTO_FALLBACK)
    return llm
