"""The ``openai`` backend against real OpenAI-compatible servers on 127.0.0.1, each with the
small packaged GGUF: llama-cpp-python's server (one request at a time, says nothing of its
context window) and xllamacpp's llama-server (parallel slots, continuous batching, /props,
/tokenize, API keys)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import free_port, wait_until_serving
from pdfgen import prose, write_pdf

from app.llm.backends import LLMError, choose_backend, open_llm
from ingest.settings import Settings

REPO = Path(__file__).resolve().parents[1]
KEY = "team-secret-123"
QUESTION = "Which company was awarded the dredging contract?"


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


def start_xllamacpp(gguf: Path, logs: Path, api_key: str = "", parallel: int = 2):
    """xllamacpp's llama-server in its own process; (process, /v1 url)."""
    port = free_port()
    log = logs / f"xllamacpp-{port}.log"
    command = [sys.executable, str(REPO / "tests" / "xllamacpp_server.py"), str(gguf), str(port),
               "--parallel", str(parallel), "--ctx", str(4096 * parallel), "--alias", "qwen"]
    if api_key:
        command += ["--api-key", api_key]
    process = subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT)
    try:
        wait_until_serving(f"http://127.0.0.1:{port}/health", process, log)
    except BaseException:
        _stop(process)
        raise
    return process, f"http://127.0.0.1:{port}/v1"


@pytest.fixture(scope="module")
def llama_cpp_server(test_gguf, tmp_path_factory):
    """`python -m llama_cpp.server` on loopback; its /v1 url."""
    port = free_port()
    logs = tmp_path_factory.mktemp("llama-server")
    process = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(test_gguf("qwen2.5-0.5b")),
         "--model_alias", "qwen", "--host", "127.0.0.1", "--port", str(port),
         "--n_ctx", "4096", "--n_threads", "2"],
        stdout=(logs / "llama.log").open("w"), stderr=subprocess.STDOUT)
    try:
        wait_until_serving(f"http://127.0.0.1:{port}/v1/models", process, logs / "llama.log")
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        _stop(process)


@pytest.fixture(scope="module")
def xllamacpp_server(test_gguf, tmp_path_factory):
    """xllamacpp's llama-server with 2 slots and an API key; its /v1 url."""
    process, url = start_xllamacpp(test_gguf("qwen2.5-0.5b"), tmp_path_factory.mktemp("xl"), KEY)
    try:
        yield url
    finally:
        _stop(process)


@pytest.fixture(scope="module")
def harbor_index(tmp_path_factory, shared_embedder) -> Path:
    from app.components import open_ingestor

    folder = tmp_path_factory.mktemp("harbor")
    write_pdf(folder / "harbor.pdf", [
        prose("harbor budget"),
        "The Harbor Authority awarded the dredging contract to Meridian Marine for 4.7 million "
        "euros. " + prose("dredging", 4),
    ])
    ingestor = open_ingestor(Settings(data_dir=folder / "data"), shared_embedder)
    ingestor.ingest([folder / "harbor.pdf"])
    ingestor.close()
    return folder / "data"


def openai_settings(data_dir: Path, url: str, **extra) -> Settings:
    return Settings(data_dir=data_dir, llm_backend="openai", openai_url=url, **extra)


def ask_cited(config: Settings, embedder):
    from app.components import open_chain

    chain = open_chain(config, embedder=embedder)
    assert chain.llm.name == "openai"
    events = list(chain.stream(QUESTION))
    tokens = [e for e in events if e.kind == "token"]
    answer = events[-1].answer
    assert len(tokens) > 1  # streamed, not one block
    assert "meridian" in answer.text.lower()
    # Page numbers are 0-based (pypdf's): the contract is on the PDF's second page.
    assert answer.sources[0].file == "harbor.pdf" and answer.sources[0].page == 1
    assert ("harbor.pdf", 1) in [(s.file, s.page) for s in answer.cited]
    return chain.llm


def cli(args: list[str], env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    full = {**os.environ, "PYTHONPATH": str(REPO), "LOCALRAG_LLM_BACKEND": "openai", **env}
    return subprocess.run([sys.executable, "-m", "app.cli", *args], capture_output=True,
                          text=True, env=full, timeout=timeout)


def assert_one_line_error(done: subprocess.CompletedProcess, text: str) -> None:
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert text in lines[0], lines[0]


# ---------------------------------------------------------------- answers through real servers


def test_cited_answer_through_llama_cpp_python_server(harbor_index, llama_cpp_server,
                                                      shared_embedder):
    llm = ask_cited(openai_settings(harbor_index, llama_cpp_server, openai_num_ctx=3072),
                    shared_embedder)
    # llama-cpp-python's server says nothing of its context window: the setting applies.
    assert llm.num_ctx == 3072 and llm.details["context_source"].startswith("setting")
    assert llm.model == "qwen" and "only model it serves" in llm.reason  # openai_model unset
    assert llm.details["tokenizer"] == "server (/extras/tokenize/count)"
    assert llm.parallel == 1


def test_cited_answer_through_xllamacpp_parallel_server(harbor_index, xllamacpp_server,
                                                        shared_embedder, test_gguf):
    import httpx

    config = openai_settings(harbor_index, xllamacpp_server, openai_model="qwen",
                             openai_api_key=KEY, openai_num_ctx=1024)
    llm = ask_cited(config, shared_embedder)
    assert llm.num_ctx == 4096 and llm.details["context_source"] == "server (/props n_ctx)"
    assert llm.parallel == 2 and llm.details["parallel_slots"] == "2 (server /props)"
    assert llm.details["tokenizer"] == "server (/tokenize)"
    assert KEY not in repr(config) and KEY not in str(llm.details)
    # Counts are the model's tokenizer (checked against llama.cpp in process), not the estimate.
    from app.llm.backends import estimate_tokens, llama_tokenizer

    sample = "Meridian Marine dredged the harbour basin for 4.7 million euros in 2023."
    own = llama_tokenizer(test_gguf("qwen2.5-0.5b"))(sample)
    assert llm.count_tokens(sample) == own != estimate_tokens(sample)
    root = xllamacpp_server.removesuffix("/v1")
    props = httpx.get(f"{root}/props", headers={"Authorization": f"Bearer {KEY}"}).json()
    assert props["total_slots"] == 2


# ---------------------------------------------------------------- failures: one line, no hang


def test_auto_never_picks_openai(tmp_path):
    config = Settings(openai_url="http://127.0.0.1:1/v1", ollama_url=f"http://127.0.0.1:{free_port()}")
    assert choose_backend(config)[0] == "llamacpp"


def test_unreachable_server_is_one_line_quickly(tmp_path):
    url = f"http://127.0.0.1:{free_port()}/v1"
    started = time.monotonic()
    with pytest.raises(LLMError) as caught:
        open_llm(Settings(llm_backend="openai", openai_url=url))
    assert time.monotonic() - started < 5
    assert str(caught.value) == (f"cannot reach the OpenAI-compatible server at {url}: is it "
                                 "running? (LOCALRAG_OPENAI_URL)")
    done = cli(["ask", QUESTION], {"LOCALRAG_OPENAI_URL": url})
    assert_one_line_error(done, f"cannot reach the OpenAI-compatible server at {url}")


def test_wrong_model_lists_the_served_ones(llama_cpp_server):
    with pytest.raises(LLMError, match=f"the server at {llama_cpp_server} has no model 'gpt-4': "
                                       r"it serves qwen \(LOCALRAG_OPENAI_MODEL\)"):
        open_llm(Settings(llm_backend="openai", openai_url=llama_cpp_server, openai_model="gpt-4"))
    done = cli(["ask", QUESTION], {"LOCALRAG_OPENAI_URL": llama_cpp_server,
                                   "LOCALRAG_OPENAI_MODEL": "gpt-4"})
    assert_one_line_error(done, "has no model 'gpt-4': it serves qwen")


@pytest.mark.parametrize("given", ["", "wrong-key"])
def test_api_key_refused(xllamacpp_server, given):
    what = "refused the API key" if given else "wants an API key"
    with pytest.raises(LLMError, match=f"{what} \\(401\\): set LOCALRAG_OPENAI_API_KEY"):
        open_llm(Settings(llm_backend="openai", openai_url=xllamacpp_server,
                          openai_api_key=given))
    done = cli(["ask", QUESTION], {"LOCALRAG_OPENAI_URL": xllamacpp_server,
                                   "LOCALRAG_OPENAI_API_KEY": given})
    assert_one_line_error(done, f"{what} (401): set LOCALRAG_OPENAI_API_KEY")
    assert not given or given not in done.stderr


def test_llama_cpp_python_server_api_key(test_gguf, tmp_path):
    """llama-cpp-python's own --api_key: a wrong key is the 401 line, the right one answers."""
    port = free_port()
    log = tmp_path / "llama.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(test_gguf("qwen2.5-0.5b")),
         "--model_alias", "qwen", "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "1024",
         "--n_threads", "1", "--api_key", KEY], stdout=log.open("w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_until_serving(f"{url}/models", process, log, headers={"Authorization": f"Bearer {KEY}"})
        with pytest.raises(LLMError, match=r"refused the API key \(401\)"):
            open_llm(Settings(llm_backend="openai", openai_url=url, openai_api_key="nope"))
        llm = open_llm(Settings(llm_backend="openai", openai_url=url, openai_api_key=KEY))
        assert llm.complete([("user", "Say: ok")]).strip()
    finally:
        _stop(process)


def test_server_killed_mid_stream_is_one_line(test_gguf, tmp_path):
    process, url = start_xllamacpp(test_gguf("qwen2.5-0.5b"), tmp_path, parallel=1)
    try:
        llm = open_llm(Settings(llm_backend="openai", openai_url=url, openai_timeout_s=20))
        received: list[str] = []
        started = time.monotonic()
        with pytest.raises(LLMError) as caught:
            for piece in llm.stream([("user", "Count from 1 to 200, one number a line.")]):
                received.append(piece)
                if len(received) == 3:
                    process.kill()
        assert len(received) >= 3 and time.monotonic() - started < 30
        assert str(caught.value) in (
            f"the server at {url} stopped in mid-answer: is it still running? "
            "(LOCALRAG_OPENAI_URL)",
            # killed between two reads: the next connection attempt is refused
            f"cannot reach the OpenAI-compatible server at {url}: is it running? "
            "(LOCALRAG_OPENAI_URL)")
        assert "\n" not in str(caught.value)
    finally:
        _stop(process)


def test_doctor_reports_the_openai_backend(xllamacpp_server):
    done = cli(["doctor"], {"LOCALRAG_OPENAI_URL": xllamacpp_server,
                            "LOCALRAG_OPENAI_API_KEY": KEY}, timeout=120)
    out = done.stdout
    assert "LLM backend: openai (set by llm_backend; the only model it serves" in out
    assert f"url: {xllamacpp_server}" in out
    assert "context: 4096 tokens" in out and "context source: server (/props n_ctx)" in out
    assert "parallel slots: 2 (server /props)" in out and "tokenizer: server (/tokenize)" in out
    assert "api key: set (hidden)" in out and "test generation: '" in out
    assert KEY not in out + done.stderr
    # Only the empty index is a problem here.
    assert done.stderr.strip() == "problem: nothing indexed: run `localrag ingest PATH`"

    refused = cli(["doctor"], {"LOCALRAG_OPENAI_URL": xllamacpp_server,
                               "LOCALRAG_OPENAI_API_KEY": "wrong"}, timeout=120)
    assert refused.returncode == 1
    assert (f"problem: the server at {xllamacpp_server} refused the API key (401): set "
            "LOCALRAG_OPENAI_API_KEY") in refused.stderr.splitlines()
