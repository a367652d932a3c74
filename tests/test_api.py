"""localrag as an OpenAI-compatible endpoint, end to end: `localrag serve` with a token, a small
generated library, the real embedder, Chroma and Qwen2.5-0.5B through llama.cpp, asked with the
official ``openai`` client; several clients at once, each about its own document."""

from __future__ import annotations

import threading
import time

import openai
import pytest
from pdfgen import prose, write_pdf
from test_ui import launch_serve, stop_serve

from ingest.settings import Settings

TOKEN = "test-token-7f3a9c"
# Each document holds one distinctive fact on its second page; each question names only it.
DOCUMENTS = {
    "lighthouse.pdf": ("The Skerry Point lighthouse was automated in 1987 by the engineer Ingrid "
                       "Halvorsen, who later wrote its maintenance manual.",
                       "Who automated the Skerry Point lighthouse?", "Halvorsen"),
    "tides.pdf": ("The Morrow Bay tide gauge was installed in 1962 by the hydrographer Tomas "
                  "Reyes.", "Who installed the Morrow Bay tide gauge?", "Reyes"),
    "orchard.pdf": ("The Kestrel Hill orchard grows 340 pear trees of the Conference variety.",
                    "How many pear trees grow in the Kestrel Hill orchard?", "340"),
}


@pytest.fixture(scope="module")
def library(tmp_path_factory, test_gguf, shared_embedder):
    from app.components import open_ingestor

    root = tmp_path_factory.mktemp("api")
    docs = root / "docs"
    docs.mkdir()
    for name, (fact, _, _) in DOCUMENTS.items():
        stem = name.removesuffix(".pdf")
        write_pdf(docs / name, [prose(stem), f"{fact} " + prose(f"{stem} records", 4)])
    settings = Settings(data_dir=root / "data", gguf=str(test_gguf("qwen2.5-0.5b")))
    ingestor = open_ingestor(settings, shared_embedder)
    ingestor.ingest([docs])
    ingestor.close()
    return root


@pytest.fixture(scope="module")
def endpoint(library, test_gguf):
    server, url = launch_serve(library, test_gguf("qwen2.5-0.5b"),
                               env={"LOCALRAG_API_TOKEN": TOKEN})
    yield f"{url}v1"
    stop_serve(server)


def client(url: str, key: str = TOKEN) -> openai.OpenAI:
    return openai.OpenAI(base_url=url, api_key=key, max_retries=0, timeout=600)


def ask(url: str, question: str, only: str | None = None, **kwargs):
    """``only``: search that document only (the request's ``localrag.documents``)."""
    if only:
        kwargs["extra_body"] = {"localrag": {"documents": [only]}}
    return client(url).chat.completions.create(
        model="localrag", messages=[{"role": "user", "content": question}], **kwargs)


def cited_files(extra: dict) -> set[str]:
    return {s["file"] for s in extra["sources"] if s["cited"]}


def test_without_the_token_the_endpoint_refuses(endpoint):
    with pytest.raises(openai.AuthenticationError):
        client(endpoint, key="not-the-token").models.list()
    with pytest.raises(openai.AuthenticationError, match="LOCALRAG_API_TOKEN"):
        ask_with = client(endpoint, key="wrong")
        ask_with.chat.completions.create(model="localrag",
                                         messages=[{"role": "user", "content": "hello"}])
    assert [m.id for m in client(endpoint).models.list()] == ["localrag"]


def test_a_plain_answer_cites_its_file_and_page_in_footnotes_and_as_data(endpoint):
    reply = ask(endpoint, "Who automated the Skerry Point lighthouse?")
    content = reply.choices[0].message.content
    extra = reply.model_extra["localrag"]
    assert "Halvorsen" in content and not extra["refused"], content
    assert "lighthouse.pdf p.2" in content, content  # the footnote: the fact is on page 2
    cited = [s for s in extra["sources"] if s["cited"] and "Halvorsen" in s["text"]]
    assert cited and all(s["file"] == "lighthouse.pdf" and s["page"] == 2 for s in cited)
    footnotes = [line for line in content.splitlines() if line.startswith("[")]
    assert {f.split("] ", 1)[1].strip() for f in footnotes} == {
        f"{s['file']} p.{s['page']}" for s in extra["sources"] if s["cited"]}


def test_a_streamed_answer_arrives_in_pieces_and_ends_with_its_sources(endpoint):
    chunks = list(ask(endpoint, "How many pear trees grow in the Kestrel Hill orchard?",
                      stream=True))
    pieces = [c.choices[0].delta.content for c in chunks if c.choices[0].delta.content]
    assert len(pieces) >= 3  # the quote, sentences, the footnotes
    text = "".join(pieces)
    assert "340" in text and "orchard.pdf p.2" in text
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    assert "orchard.pdf" in cited_files(last.model_extra["localrag"])


def test_clients_at_once_each_get_their_own_answer_and_sources(endpoint):
    """Each client limits its question to its document: any source of another document in an
    answer can only have come from another chat."""
    answers: dict[str, object] = {}
    errors: list[BaseException] = []

    def one(name: str, question: str, stream: bool) -> None:
        try:
            if stream:
                chunks = list(ask(endpoint, question, only=name, stream=True))
                text = "".join(c.choices[0].delta.content or "" for c in chunks)
                answers[name] = (text, chunks[-1].model_extra["localrag"])
            else:
                reply = ask(endpoint, question, only=name)
                answers[name] = (reply.choices[0].message.content, reply.model_extra["localrag"])
        except BaseException as err:  # reported below, with the others
            errors.append(err)

    threads = [threading.Thread(target=one, args=(name, question, i % 2 == 0))
               for i, (name, (_, question, _)) in enumerate(DOCUMENTS.items())]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(900)
    assert not errors, errors
    for name, (_, _, fact) in DOCUMENTS.items():
        text, extra = answers[name]
        assert fact in text, (name, text)
        assert {s["file"] for s in extra["sources"]} == {name}, (name, extra["sources"])
        assert cited_files(extra) == {name}, (name, extra["sources"])
        others = [n for n in DOCUMENTS if n != name]
        assert not any(n in text for n in others), (name, text)
    print(f"3 clients at once answered in {time.monotonic() - started:.0f} s")


def test_closing_a_real_generation_stops_llama_cpp_and_frees_its_slot(test_gguf):
    """What a client that hangs up (or Stop) does to the embedded model, in process: the
    model's stream is closed after two pieces, and llama.cpp stops working at once."""
    from app.llm.backends import open_llm

    llm = open_llm(Settings(llm_backend="llamacpp", gguf=str(test_gguf("qwen2.5-0.5b"))))
    stream = llm.stream([("user", "Count from 1 to 300, one number per line.")])
    next(stream)
    next(stream)
    stream.close()
    cpu = time.process_time()
    time.sleep(1.0)
    assert time.process_time() - cpu < 0.3  # nothing generates in the background
    assert llm._slots.acquire(blocking=False)  # the slot is free
    llm._slots.release()
    assert llm.complete([("user", "Reply with the single word: ready")]).strip()
