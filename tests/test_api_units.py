"""The endpoint's pure parts: request parsing and limits, the answer as OpenAI's objects with
footnotes, escaping of hostile text, the token check and the exposure check."""

from __future__ import annotations

import click
import pytest

from app.answer.chain import Answer
from app.answer.prompting import REFUSAL, Source
from app.answer.quote import Quote
from app.api.openai_compat import token_ok
from app.api.payloads import (
    ApiError,
    answer_content,
    closing_text,
    completion,
    parse_request,
    plain_turn,
    safe_markdown,
    scope_of,
)
from app.cli.serve import check_api_exposure

SOURCES = [Source(1, "tides.pdf", 2, "The Morrow Bay tide gauge was installed in 1962.",
                  "/lib/tides.pdf", title="Tides"),
           Source(2, "orchard.pdf", 0, "The orchard grows 340 pear trees.", "/lib/orchard.pdf")]


def answered() -> Answer:
    answer = Answer("When was the gauge installed?", "When was the gauge installed?",
                    text="The gauge was installed in 1962 [1].", sources=list(SOURCES),
                    cited=[SOURCES[0]])
    answer.quote = Quote(1, "The Morrow Bay tide gauge was installed in 1962.", 0, 48)
    return answer


def body(*messages, **extra):
    return {"model": "localrag", "messages": [{"role": r, "content": c} for r, c in messages],
            **extra}


def test_the_last_user_message_is_the_question_and_earlier_turns_the_history():
    asked = parse_request(body(("system", "You are helpful."), ("user", "Who built it?"),
                               ("assistant", "Tomas Reyes [1].\n\n[1] tides.pdf p.3"),
                               ("user", [{"type": "text", "text": "When?"}]), stream=True,
                               temperature=0.2))
    assert asked.question == "When?" and asked.stream
    assert asked.history == (("user", "Who built it?"), ("assistant", "Tomas Reyes."))
    assert asked.ignored == ("temperature",)


@pytest.mark.parametrize(("request_body", "status", "words"), [
    ({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}, 404, "localrag"),
    ({"model": "localrag", "messages": []}, 400, "non-empty"),
    ({"model": "localrag", "messages": [{"role": "user", "content": "hi"},
                                        {"role": "assistant", "content": "hello"}]}, 400, "last"),
    ({"model": "localrag", "messages": [{"role": "user", "content": "   "}]}, 400, "empty"),
    ({"model": "localrag", "messages": [{"role": "user", "content": "x" * 4001}]}, 400, "4,000"),
    ({"model": "localrag", "messages": [{"role": "user", "content": "hi"}] * 101}, 400, "100"),
    ({"model": "localrag", "messages": [{"role": "wizard", "content": "hi"}]}, 400, "role"),
    ({"model": "localrag", "messages": [{"role": "user", "content": 5}]}, 400, "content"),
    ({"model": "localrag", "messages": [{"role": "user", "content": "hi"}],
      "localrag": {"documents": "tides.pdf"}}, 400, "documents"),
    (["not", "an", "object"], 400, "object"),
])
def test_bad_requests_are_refused_with_openais_error_shape(request_body, status, words):
    with pytest.raises(ApiError) as caught:
        parse_request(request_body)
    assert caught.value.status == status and words in str(caught.value)
    error = caught.value.body()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]


def test_history_keeps_the_last_twenty_messages():
    turns = [("user", f"q{i}") if i % 2 == 0 else ("assistant", f"a{i}") for i in range(40)]
    asked = parse_request(body(*turns, ("user", "last")))
    assert len(asked.history) == 20 and asked.history[-1] == ("assistant", "a39")


def test_a_completion_carries_footnotes_and_the_sources_as_data():
    out = completion(answered(), "chatcmpl-1", 1700000000)
    content = out["choices"][0]["message"]["content"]
    assert content.startswith("From your documents: \u201cThe Morrow Bay tide gauge")
    assert "The gauge was installed in 1962 [1]." in content
    assert content.endswith("[1] tides.pdf p.3")  # only the cited source, page 1-based
    assert "orchard.pdf" not in content
    extra = out["localrag"]
    assert [(s["number"], s["file"], s["page"], s["cited"]) for s in extra["sources"]] == [
        (1, "tides.pdf", 3, True), (2, "orchard.pdf", 1, False)]
    assert extra["refused"] is False and extra["quote"]["number"] == 1
    assert out["object"] == "chat.completion" and out["model"] == "localrag"


def test_a_refusal_says_why_and_cites_nothing():
    answer = Answer("Who?", "Who?", text=REFUSAL, sources=list(SOURCES), refused=True,
                    not_found=True, refusal_reason="nothing in your documents is close")
    content = answer_content(answer)
    assert content == f"{REFUSAL} (nothing in your documents is close.)"
    assert closing_text(answer, [REFUSAL]) == " (nothing in your documents is close.)"
    assert closing_text(answer, []) == content


def test_a_streamed_answer_the_check_refused_afterwards_is_withdrawn():
    answer = Answer("Q", "Q", text=REFUSAL, refused=True, withheld="Made up [1].",
                    refusal_reason="1 of 1 statements of the model's answer are not in the passages")
    closing = closing_text(answer, ["Made up (not found in your documents)."])
    assert closing.startswith("\n\nWithdrawn: I could not find this")
    # Sent back as history, what stands is the refusal.
    assert plain_turn("Made up.\n\n" + closing.strip()).startswith("I could not find this")


def test_the_streamed_text_ends_as_the_plain_completion_does():
    answer = answered()
    streamed = ["From your documents: \u201cThe Morrow Bay tide gauge was installed in 1962.\u201d "
                "[1]\n\n", safe_markdown(answer.text)]
    assert "".join(streamed) + closing_text(answer, streamed) == answer_content(answer)


@pytest.mark.parametrize("hostile", [
    "<script>window.__pwned = 1</script>",
    "<img src=x onerror=\"alert(1)\">",
    "![tracker](http://203.0.113.9/pixel.png)",
    "[click](javascript:alert(1))",
    "[1](http://203.0.113.9/x) and ![1](http://203.0.113.9/y.png)",
    "[ref]: http://203.0.113.9/",
])
def test_hostile_text_can_form_no_tag_link_or_image(hostile):
    import re

    shown = safe_markdown(f"The depot holds 412 lanterns [2]. {hostile}")
    assert "<" not in shown.replace("&lt;", "")
    assert not re.search(r"(?<!\\)\]\(", shown)  # no "](": no inline link or image
    assert not re.search(r"(?<!\\)\[[^\]]*(?<!\\)\]:", shown)  # no reference definition
    assert "[2]" in shown  # the real marker stays a marker


def test_escaped_history_comes_back_as_the_text_it_was():
    text = "Use <b>bold</b> and [brackets]."
    assert plain_turn(safe_markdown(text)) == text


def test_scope_by_file_name_or_id_and_nothing_matching_is_an_error():
    class Doc:
        def __init__(self, doc_id, path, status="indexed"):
            self.doc_id, self.paths, self.status = doc_id, (path,), status

    docs = [Doc("a1", "/lib/tides.pdf"), Doc("b2", "/lib/x/orchard.pdf"),
            Doc("c3", "/lib/broken.pdf", "failed")]
    assert scope_of(docs, ["tides.pdf"]) == {"a1"}
    assert scope_of(docs, ["b2", "/lib/x"]) == {"b2"}
    with pytest.raises(ApiError, match="no indexed document"):
        scope_of(docs, ["broken.pdf"])


@pytest.mark.parametrize(("header", "token", "ok"), [
    (None, "", True), ("Bearer anything", "", True), (None, "s3cret", False),
    ("Bearer s3cret", "s3cret", True), ("bearer s3cret", "s3cret", True),
    ("Bearer s3cre", "s3cret", False), ("Basic s3cret", "s3cret", False),
    ("Bearer s3cret-and-more", "s3cret", False), ("Bearer ", "s3cret", False),
])
def test_token_check(header, token, ok):
    assert token_ok(header, token) is ok


def test_the_endpoint_needs_a_token_off_loopback():
    check_api_exposure("127.0.0.1", "", True)
    check_api_exposure("0.0.0.0", "s3cret", True)
    check_api_exposure("0.0.0.0", "", False)  # --no-api: the browser app only
    with pytest.raises(click.ClickException, match="LOCALRAG_API_TOKEN"):
        check_api_exposure("0.0.0.0", "", True)
