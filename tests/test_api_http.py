"""The endpoint over real HTTP (uvicorn on 127.0.0.1, the official ``openai`` client) with the
real chain and gate, and a scripted chat model in place of llama.cpp: the protocol details a
real model cannot be made to show on demand (a queue, a failure mid-stream, a client that hangs
up during a long answer). tests/test_api.py runs the same endpoint with the real model."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from types import SimpleNamespace

import httpx
import openai
import pytest
from conftest import free_port

from app.answer.chain import RagChain
from app.api.openai_compat import api_routes
from app.llm.backends import ChatBackend, LLMError

REPLY = "The tide gauge was installed in 1962 [1]. It was built by Tomas Reyes [1]."


@dataclass
class Hit:
    file: str
    page: int
    text: str
    path: str = ""
    score: float = 1.0
    similarity: float = 0.9
    title: str = ""


class Retriever:
    def search(self, query, k, doc_ids=None):
        return [Hit("tides.pdf", 2, "The Morrow Bay tide gauge was installed in 1962 by the "
                    "hydrographer Tomas Reyes.", "/lib/tides.pdf", title="Tides")]


class ScriptedModel:
    """A chat model that streams ``reply`` word by word (``forever``: without end), counting
    what it was asked for and how many streams run at once."""

    def __init__(self, reply: str = REPLY, delay_s: float = 0.01, forever: bool = False,
                 fail_after: int | None = None) -> None:
        self.reply, self.delay_s, self.forever, self.fail_after = reply, delay_s, forever, fail_after
        self.pulled = 0
        self.running = 0
        self.most_at_once = 0
        self._lock = threading.Lock()

    def stream(self, messages):
        with self._lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        reply, forever = self.reply, self.forever  # as they were when this answer began
        try:
            n = 0
            while True:
                for word in reply.split(" "):
                    if self.fail_after is not None and n >= self.fail_after:
                        raise RuntimeError("connection reset by the model server")
                    time.sleep(self.delay_s)
                    self.pulled += 1
                    n += 1
                    yield SimpleNamespace(content=word + " ")
                if not forever:
                    return
        finally:
            with self._lock:
                self.running -= 1


def make_state(model: ScriptedModel, parallel: int = 1):
    llm = ChatBackend("scripted", "test", "scripted", model, 4096, 256, "Answer from sources.",
                      lambda text: len(text) // 4 + 1, parallel=parallel,
                      explain=lambda err: LLMError(f"the model server failed: {err}"))
    chain = RagChain(Retriever(), llm, k=1, relevance_threshold=0.0, check_answerability=False,
                     quote=False)
    return SimpleNamespace(chain=chain, llm_problem="", library=SimpleNamespace(documents=list))


class Server:
    """The endpoint's routes in a FastAPI app under uvicorn, in a thread."""

    def __init__(self, state, token: str = "") -> None:
        import uvicorn
        from fastapi import FastAPI

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.server = uvicorn.Server(uvicorn.Config(FastAPI(routes=api_routes(state, token)),
                                                    host="127.0.0.1", port=self.port,
                                                    log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)

    def client(self, key: str = "none") -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url, api_key=key, max_retries=0, timeout=30)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def serve_scripted():
    servers = []

    def start(model=None, token="", parallel=1):
        state = make_state(model or ScriptedModel(), parallel)
        servers.append(Server(state, token))
        return servers[-1], state

    yield start
    for server in servers:
        server.stop()


def ask(client, question="When was the tide gauge installed?", **kwargs):
    return client.chat.completions.create(
        model="localrag", messages=[{"role": "user", "content": question}], **kwargs)


def test_models_and_a_plain_answer_with_footnotes(serve_scripted):
    server, _ = serve_scripted()
    client = server.client()
    assert [m.id for m in client.models.list()] == ["localrag"]
    reply = ask(client)
    content = reply.choices[0].message.content
    assert "installed in 1962 [1]." in content and content.endswith("[1] tides.pdf p.3")
    sources = reply.model_extra["localrag"]["sources"]
    assert sources[0]["file"] == "tides.pdf" and sources[0]["page"] == 3 and sources[0]["cited"]


def test_a_streamed_answer_comes_in_sentences_and_ends_like_the_plain_one(serve_scripted):
    server, _ = serve_scripted()
    client = server.client()
    chunks = list(ask(client, stream=True))
    texts = [c.choices[0].delta.content or "" for c in chunks]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert len([t for t in texts if t]) >= 3  # two sentences, then the footnotes
    assert "".join(texts) == ask(client).choices[0].message.content
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].model_extra["localrag"]["sources"][0]["file"] == "tides.pdf"


def test_a_token_is_required_when_set(serve_scripted):
    server, _ = serve_scripted(token="s3cret-token")
    with pytest.raises(openai.AuthenticationError):
        ask(server.client("wrong"))
    with pytest.raises(openai.AuthenticationError):
        server.client("wrong").models.list()
    assert httpx.get(f"{server.url}/models").status_code == 401  # no header at all
    assert "1962" in ask(server.client("s3cret-token")).choices[0].message.content


def test_a_model_failure_is_an_openai_error_plain_and_mid_stream(serve_scripted):
    server, _ = serve_scripted(ScriptedModel(fail_after=3))
    client = server.client()
    with pytest.raises(openai.InternalServerError, match="the model server failed"):
        ask(client)
    with pytest.raises(openai.APIError, match="the model server failed"):
        list(ask(client, stream=True))
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])


def test_a_queued_client_hears_its_place_and_a_client_that_hangs_up_frees_the_model(
        serve_scripted):
    model = ScriptedModel(delay_s=0.02, forever=True)
    server, state = serve_scripted(model)
    gate = state.chain.gate
    request = {"model": "localrag", "stream": True,
               "messages": [{"role": "user", "content": "When was the gauge installed?"}]}
    with httpx.Client(timeout=30) as first:
        with first.stream("POST", f"{server.url}/chat/completions", json=request) as answering:
            lines = answering.iter_lines()
            while "content" not in next(lines) or gate.active == 0:
                pass  # until the first one generates
            model.reply = "The gauge was installed by Tomas Reyes [1]."
            model.forever = False
            waiting = server.client().chat.completions.create(**request)
            for chunk in waiting:  # the second client, in line behind the first
                if (chunk.model_extra.get("localrag") or {}).get("waiting"):
                    break
            assert chunk.model_extra["localrag"] == {"waiting": 1,
                                                     "status": "waiting: 1st in line"}
            assert gate.waiting == 1
        # The first client hung up in the middle of an endless answer.
        pulled = model.pulled
        rest = "".join(c.choices[0].delta.content or "" for c in waiting)
    assert "Tomas Reyes" in rest  # its turn came once the first one's generation stopped
    time.sleep(0.3)
    assert model.pulled - pulled < 40  # the endless stream was not read on
    assert model.running == 0 and gate.active == 0 and gate.waiting == 0


def test_server_backend_slots_run_that_many_generations_at_once(serve_scripted):
    model = ScriptedModel(delay_s=0.05)
    server, state = serve_scripted(model, parallel=2)
    results = []

    def one():
        results.append(ask(server.client()).choices[0].message.content)

    threads = [threading.Thread(target=one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(results) == 4 and all("1962" in r for r in results)
    assert model.most_at_once == 2 and state.chain.gate.active == 0
