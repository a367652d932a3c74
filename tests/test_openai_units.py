"""Pure parts of the ``openai`` backend, and a vLLM-shaped responder for what no server here does
(vLLM needs a GPU): ``max_model_len`` in ``/v1/models`` and ``/tokenize`` answering a count.
The real-server tests are in test_openai.py."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import openai
import pytest

from app.llm.backends import estimate_tokens, open_llm
from app.llm.openai_backend import (
    context_window,
    explain_openai_error,
    is_loopback,
    pick_model,
    root_url,
    served_models,
)
from ingest.settings import Settings

URL = "http://127.0.0.1:8000/v1"
VLLM_MODELS = {"object": "list", "data": [
    {"id": "Qwen/Qwen2.5-7B-Instruct", "object": "model", "owned_by": "vllm",
     "root": "Qwen/Qwen2.5-7B-Instruct", "max_model_len": 8192}]}
# llama.cpp's llama-server, trimmed: -c 8192 --parallel 2 gives each slot 4096.
LLAMA_PROPS = {"default_generation_settings": {"n_ctx": 4096, "params": {}}, "total_slots": 2}
LLAMA_MODELS = {"data": [{"id": "model.gguf", "aliases": ["qwen"], "meta": {"n_ctx": 4096,
                                                                           "n_ctx_train": 32768}}]}


@pytest.mark.parametrize("models, props, model, expected", [
    (VLLM_MODELS, None, "Qwen/Qwen2.5-7B-Instruct", (8192, "server (/v1/models max_model_len)")),
    (VLLM_MODELS, {"detail": "Not Found"}, "", (8192, "server (/v1/models max_model_len)")),
    (LLAMA_MODELS, LLAMA_PROPS, "qwen", (4096, "server (/props n_ctx)")),
    (LLAMA_MODELS, None, "qwen", (4096, "server (/v1/models meta.n_ctx)")),
    ({"data": [{"id": "qwen", "object": "model", "owned_by": "me"}]}, None, "qwen", (None, "")),
    ({"data": []}, None, "x", (None, "")),
    ({"data": [{"id": "a", "max_model_len": 1}, {"id": "b", "max_model_len": 2}]}, None, "c",
     (None, "")),  # several models, none the one asked for: nothing to go on
])
def test_context_window(models, props, model, expected):
    assert context_window(models, props, model) == expected


def test_served_models_include_llama_cpp_aliases():
    assert served_models(LLAMA_MODELS) == ["model.gguf", "qwen"]
    assert served_models(VLLM_MODELS) == ["Qwen/Qwen2.5-7B-Instruct"]


@pytest.mark.parametrize("url, expected", [
    ("http://127.0.0.1:8080/v1", "http://127.0.0.1:8080"),
    ("http://gpu-box:8000/v1/", "http://gpu-box:8000"),
    ("http://host/llm", "http://host/llm"),
])
def test_root_url(url, expected):
    assert root_url(url) == expected


@pytest.mark.parametrize("url, loopback", [
    ("http://127.0.0.1:8080/v1", True), ("http://localhost/v1", True), ("http://[::1]:1/v1", True),
    ("http://gpu-box:8000/v1", False), ("http://10.0.0.5/v1", False),
])
def test_is_loopback(url, loopback):
    assert is_loopback(url) is loopback


def test_default_url_stays_on_this_machine():
    assert is_loopback(Settings().openai_url)


@pytest.mark.parametrize("text", ["", "a", "hello world", "é" * 10, "x" * 3001])
def test_fallback_estimate_never_undercounts_bytes_over_three(text):
    assert estimate_tokens(text) >= -(-len(text.encode()) // 3)


def test_pick_model():
    assert pick_model(URL, "b", ["a", "b"]) == ("b", "")
    assert pick_model(URL, "", ["only"])[0] == "only"
    with pytest.raises(Exception, match="has no model 'c': it serves a, b"):
        pick_model(URL, "c", ["a", "b"])
    with pytest.raises(Exception, match="serves a, b: name one in LOCALRAG_OPENAI_MODEL"):
        pick_model(URL, "", ["a", "b"])


def _status_error(cls, status: int, message: str):
    response = httpx.Response(status, request=httpx.Request("POST", f"{URL}/chat/completions"))
    return cls(message, response=response, body=None)


REQUEST = httpx.Request("POST", f"{URL}/chat/completions")


@pytest.mark.parametrize("error, line", [
    (openai.APIConnectionError(request=REQUEST),
     f"cannot reach the OpenAI-compatible server at {URL}: is it running? (LOCALRAG_OPENAI_URL)"),
    (openai.APITimeoutError(request=REQUEST),
     f"the server at {URL} did not answer within 30 s (LOCALRAG_OPENAI_TIMEOUT_S)"),
    (_status_error(openai.AuthenticationError, 401, "Invalid API Key"),
     f"the server at {URL} refused the API key (401): set LOCALRAG_OPENAI_API_KEY"),
    (_status_error(openai.NotFoundError, 404, "model not found"),
     f"the server at {URL} has no model 'm': it serves a, b (LOCALRAG_OPENAI_MODEL)"),
    (_status_error(openai.BadRequestError, 400, "the prompt is too long\nmore"),
     f"the server at {URL} refused the request (400): the prompt is too long"),
    (httpx.RemoteProtocolError("peer closed connection without sending complete message body"),
     f"the server at {URL} stopped in mid-answer: is it still running? (LOCALRAG_OPENAI_URL)"),
    (openai.APIError("the model crashed", REQUEST, body=None),
     f"the server at {URL} stopped with an error: the model crashed"),
])
def test_error_mapping(error, line):
    assert str(explain_openai_error(URL, "m", ["a", "b"], 30.0)(error)) == line


class VllmShaped(BaseHTTPRequestHandler):
    """vLLM's /v1/models (max_model_len) and /tokenize ({"model", "prompt"} → {"count"})."""

    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802
        if self.path == "/v1/models":
            self._send(200, VLLM_MODELS)
        else:
            self._send(404, {"detail": "Not Found"})

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path == "/tokenize" and "prompt" in body:
            self._send(200, {"count": len(body["prompt"].split()), "max_model_len": 8192})
        else:
            self._send(400 if self.path == "/tokenize" else 404, {"detail": "bad request"})

    def log_message(self, *args):
        pass


def test_vllm_shaped_server_gives_context_and_counts():
    server = ThreadingHTTPServer(("127.0.0.1", 0), VllmShaped)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/v1"
        llm = open_llm(Settings(llm_backend="openai", openai_url=url, openai_num_ctx=2048))
        assert llm.model == "Qwen/Qwen2.5-7B-Instruct"
        assert llm.num_ctx == 8192 and "max_model_len" in llm.details["context_source"]
        assert llm.details["tokenizer"] == "server (/tokenize)"
        assert llm.count_tokens("one two three four five") == 5  # the server's count
        assert llm.parallel == 1  # vLLM does not say; the default
    finally:
        server.shutdown()
        server.server_close()
