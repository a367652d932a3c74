"""The Ollama backend: against a real Ollama-protocol server (ollama-proxy-plus in front of
llama.cpp's server with a real GGUF), and a scripted responder for what that server does not do."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import free_port, wait_until_serving
from ollama_stub import OllamaStub
from pdfgen import prose, write_pdf

from app.llm.backends import LLMError, choose_backend, open_llm
from ingest.settings import Settings

REPO = Path(__file__).resolve().parents[1]
MODEL = "localrag-llama3.2-3b"
REPLY = ["The contract ", "went to Meridian ", "[1]", "."]


def closed_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


def settings(tmp_path: Path, **extra) -> Settings:
    return Settings(data_dir=tmp_path / "data", **extra)


def test_options_go_on_the_wire_from_the_modelfile(tmp_path):
    with OllamaStub([MODEL], REPLY) as stub:
        backend = open_llm(settings(tmp_path, ollama_url=stub.url, ollama_model=MODEL))
        assert backend.name == "ollama" and "serves" in backend.reason
        assert "".join(backend.stream([("user", "Who won?")])) == "".join(REPLY)
        options = stub.bodies("/api/chat")[-1]["options"]
        # modelfiles/localrag-llama3.2-3b.Modelfile: num_ctx 8192, num_gpu 99, temperature 0.1
        assert options["num_ctx"] == 8192 == backend.num_ctx
        assert options["num_gpu"] == 99
        assert options["temperature"] == pytest.approx(0.1)
        assert stub.bodies("/api/chat")[-1]["keep_alive"] == "30m"


def test_num_ctx_comes_from_the_server_without_a_modelfile(tmp_path):
    with OllamaStub(["someone/else:7b"], REPLY) as stub:
        backend = open_llm(settings(tmp_path, ollama_url=stub.url, ollama_model="someone/else:7b"))
        "".join(backend.stream([("user", "hi")]))
        assert stub.bodies("/api/chat")[-1]["options"]["num_ctx"] == 2048  # from /api/show


def test_error_line_in_mid_stream_is_a_clear_error(tmp_path):
    with OllamaStub([MODEL], REPLY, error_after=2) as stub:
        backend = open_llm(settings(tmp_path, ollama_url=stub.url, ollama_model=MODEL))
        received = []
        with pytest.raises(LLMError, match="Ollama stopped with an error: model runner has "
                                           "unexpectedly stopped"):
            for piece in backend.stream([("user", "Who won?")]):
                received.append(piece)
        assert received == REPLY[:2]  # what came before the error was streamed


def test_missing_model(tmp_path):
    with OllamaStub(["other:1b"], REPLY) as stub:
        auto = settings(tmp_path, ollama_url=stub.url, ollama_model=MODEL)
        assert choose_backend(auto) == (
            "llamacpp", f"Ollama at {stub.url} has no model '{MODEL}': using the embedded model")
        forced = open_llm(auto.model_copy(update={"llm_backend": "ollama"}))
        with pytest.raises(LLMError, match=f"create it with `localrag model create {MODEL}`"):
            forced.complete([("user", "hi")])


def test_unreachable_server(tmp_path):
    url = closed_url()
    auto = settings(tmp_path, ollama_url=url)
    backend, reason = choose_backend(auto)
    assert backend == "llamacpp" and f"not reachable at {url}" in reason
    forced = open_llm(auto.model_copy(update={"llm_backend": "ollama"}))
    started = time.monotonic()
    with pytest.raises(LLMError, match="start it with `ollama serve`"):
        forced.complete([("user", "hi")])
    assert time.monotonic() - started < 10  # no hang


def test_model_create_uploads_the_local_gguf_and_parameters(tmp_path):
    folder = tmp_path / "modelfiles"
    folder.mkdir()
    (tmp_path / "weights.gguf").write_bytes(b"GGUF" + bytes(100))
    (folder / "mine.Modelfile").write_text(
        'FROM ../weights.gguf\nPARAMETER num_ctx 4096\nPARAMETER stop "<|im_end|>"\n'
        'SYSTEM """Cite [1]."""\n')
    with OllamaStub([], REPLY) as stub:
        env = {**os.environ, "PYTHONPATH": str(REPO), "LOCALRAG_OLLAMA_URL": stub.url,
               "LOCALRAG_MODELFILE": str(folder / "x.Modelfile")}
        done = subprocess.run([sys.executable, "-m", "app.cli", "model", "create", "mine"],
                              capture_output=True, text=True, env=env, timeout=120)
        assert done.returncode == 0, done.stderr
        assert f"created mine in Ollama at {stub.url}" in done.stdout
        assert any(p.startswith("/api/blobs/sha256:") for _, p, _ in stub.requests)
        create = stub.bodies("/api/create")[-1]
        assert create["model"] == "mine" and list(create["files"]) == ["weights.gguf"]
        assert create["parameters"] == {"num_ctx": 4096, "stop": ["<|im_end|>"]}
        assert create["system"] == "Cite [1]."
    done = subprocess.run([sys.executable, "-m", "app.cli", "model", "create", "mine"],
                          capture_output=True, text=True, timeout=120,
                          env={**env, "LOCALRAG_OLLAMA_URL": closed_url()})
    assert done.returncode == 0
    assert f"ollama create mine -f {folder / 'mine.Modelfile'}" in done.stdout


@pytest.fixture(scope="module")
def ollama_protocol_server(test_gguf, tmp_path_factory):
    """`python -m llama_cpp.server` with a real GGUF, behind ollama-proxy-plus, on loopback."""
    llama_port, proxy_port = free_port(), free_port()
    # Logs go to files: a pipe nobody reads fills up and blocks the server.
    logs = tmp_path_factory.mktemp("servers")
    llama_log, proxy_log = (logs / "llama.log").open("w"), (logs / "proxy.log").open("w")
    llama = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(test_gguf("qwen2.5-0.5b")),
         "--model_alias", "qwen", "--host", "127.0.0.1", "--port", str(llama_port),
         "--n_ctx", "4096", "--n_threads", "2"],
        stdout=llama_log, stderr=subprocess.STDOUT)
    proxy_env = {**os.environ, "PROVIDERS_LOCAL_BASE_URL": f"http://127.0.0.1:{llama_port}/v1",
                 "EXTRA_MODELS": "local/qwen"}
    proxy = subprocess.Popen(
        [str(Path(sys.executable).with_name("ollama-proxy")), "serve", "--host", "127.0.0.1",
         "--port", str(proxy_port)], env=proxy_env, stdout=proxy_log, stderr=subprocess.STDOUT)
    try:
        wait_until_serving(f"http://127.0.0.1:{llama_port}/v1/models", llama, logs / "llama.log")
        wait_until_serving(f"http://127.0.0.1:{proxy_port}/api/version", proxy, logs / "proxy.log")
        yield f"http://127.0.0.1:{proxy_port}"
    finally:
        for process in (proxy, llama):
            process.terminate()
            process.wait(timeout=30)


def test_answer_through_a_real_ollama_protocol_server(tmp_path, ollama_protocol_server,
                                                      shared_embedder):
    from app.components import open_chain, open_ingestor

    config = settings(tmp_path, ollama_url=ollama_protocol_server, ollama_model="local/qwen")
    write_pdf(tmp_path / "harbor.pdf", [
        prose("harbor budget"),
        "The Harbor Authority awarded the dredging contract to Meridian Marine for 4.7 million "
        "euros. " + prose("dredging", 4),
    ])
    ingestor = open_ingestor(config, shared_embedder)
    ingestor.ingest([tmp_path / "harbor.pdf"])
    ingestor.close()
    chain = open_chain(config, embedder=shared_embedder)
    assert chain.llm.name == "ollama"
    events = list(chain.stream("Which company was awarded the dredging contract?"))
    tokens = [e for e in events if e.kind == "token"]
    answer = events[-1].answer
    assert len(tokens) > 1  # streamed, not one block
    assert "meridian" in answer.text.lower()
    assert answer.sources[0].file == "harbor.pdf" and answer.sources[0].page == 1
