"""Pure parts of the answering chain: Modelfiles, context packing, citations, follow-ups, metrics."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.answer.prompting import (
    CitationFilter,
    Source,
    clean_rewrite,
    is_refusal,
    needs_rewrite,
    pack_prompt,
    resolve_citations,
)
from app.eval.metrics import contains, numbers_in, numeric_match, token_f1, token_recall
from app.llm.modelfile import PARAMETER_TYPES, ModelfileError, parse_modelfile, read_modelfile
from app.llm.ollama_admin import create_request

MODELFILES = sorted((Path(__file__).resolve().parents[1] / "modelfiles").glob("*.Modelfile"))


def words(text: str) -> int:
    """A stand-in tokenizer with exact, predictable counts: one token per word."""
    return len(text.split())


@pytest.mark.parametrize("path", MODELFILES, ids=lambda p: p.name)
def test_every_modelfile_is_valid_and_complete(path):
    modelfile = read_modelfile(path)
    for name in ("num_ctx", "num_gpu", "temperature", "num_predict"):
        assert name in modelfile.parameters, f"{path.name} lacks PARAMETER {name}"
    assert 2048 <= modelfile.parameters["num_ctx"] <= 131072
    assert modelfile.parameters["num_predict"] < modelfile.parameters["num_ctx"] // 2
    assert 0 <= modelfile.parameters["temperature"] <= 1
    assert modelfile.stop, "stop tokens"
    assert "[1]" in modelfile.system and "could not find this in your documents" in modelfile.system
    assert set(modelfile.parameters) <= set(PARAMETER_TYPES)


def test_modelfiles_cover_the_deployments():
    bases = {read_modelfile(p).base for p in MODELFILES}
    assert any(b.startswith("llama3.2:3b") and "q4_K_M" in b for b in bases)
    assert any(b.startswith("llama3.1:8b") and "q4_K_M" in b for b in bases)
    local = [read_modelfile(p) for p in MODELFILES if read_modelfile(p).base_path() is not None]
    assert local and local[0].base_path().suffix == ".gguf"


def test_modelfile_parsing_details():
    text = '''# comment
FROM ./model.gguf
PARAMETER num_ctx 2048
PARAMETER stop "<|im_end|>"
PARAMETER stop <eos>
PARAMETER temperature 0.2
SYSTEM """Line one.
Line two."""
TEMPLATE "{{ .Prompt }}"
'''
    modelfile = parse_modelfile(text, Path("/models/x/Modelfile"))
    assert modelfile.parameters == {"num_ctx": 2048, "temperature": 0.2}
    assert modelfile.stop == ["<|im_end|>", "<eos>"]
    assert modelfile.system == "Line one.\nLine two."
    assert modelfile.template == "{{ .Prompt }}"
    assert modelfile.base_path() == Path("/models/x/model.gguf")
    assert parse_modelfile("FROM llama3.2:3b").base_path() is None
    request = create_request(modelfile)
    assert request["parameters"]["stop"] == ["<|im_end|>", "<eos>"]
    assert request["system"].startswith("Line one")


@pytest.mark.parametrize("text, message", [
    ("PARAMETER num_ctx 2048", "no FROM"),
    ("FROM x\nPARAMETER num_ctx lots", "num_ctx needs a int"),
    ("FROM x\nPARAMETER context 2048", "unknown parameter 'context'"),
    ("FROM x\nRUN rm -rf /", "unknown instruction RUN"),
    ('FROM x\nSYSTEM """never closed', "unterminated"),
])
def test_modelfile_errors(text, message):
    with pytest.raises(ModelfileError, match=message):
        parse_modelfile(text)


def source(n: int, text: str, page: int = 0) -> Source:
    return Source(n, f"doc{n}.pdf", page, text)


def test_packing_fits_the_window_and_reports_what_it_left_out():
    sources = [source(i, " ".join(["word"] * 300)) for i in range(1, 5)]
    history = [("user", "q " * 50), ("assistant", "a " * 50)] * 3
    packed = pack_prompt("system prompt", sources, history, "the question?", num_ctx=1200,
                         answer_tokens=200, count_tokens=words)
    used = sum(words(m[1]) + 8 for m in packed.messages)
    assert used == packed.prompt_tokens <= 1200 - 200
    assert [s.number for s in packed.sources] == [1, 2, 3]  # rank order kept
    assert packed.trimmed_sources == [3]
    assert [s.number for s in packed.dropped_sources] == [4]
    assert packed.dropped_turns == 2  # history limited to its share (250 tokens), oldest first
    assert packed.messages[1:5] == history[-4:] and packed.messages[-1][0] == "user"
    assert packed.sources[2].text.endswith("…")
    assert not packed.complete


def test_packing_keeps_everything_when_it_fits():
    sources = [source(1, "alpha beta", 3), source(2, "gamma", 7)]
    packed = pack_prompt("sys", sources, [], "q?", 4096, 512, words)
    assert packed.complete and packed.sources == sources
    prompt = packed.messages[-1][1]
    assert "[1] doc1.pdf, page 4:\nalpha beta" in prompt and "[2] doc2.pdf, page 8:" in prompt


def test_packing_refuses_a_question_larger_than_the_window():
    with pytest.raises(ValueError, match="question alone"):
        pack_prompt("sys", [], [], "w " * 5000, 2048, 512, words)


def test_citation_filter_streams_valid_markers_and_drops_the_rest():
    stream = CitationFilter({1, 2})
    pieces = ["Revenue rose [", "1] and costs fell [3", "]. See [2, 9] and [1][", "2]. A [note]"]
    shown = "".join(stream.feed(p) for p in pieces) + stream.flush()
    assert shown == "Revenue rose [1] and costs fell . See [2] and [1][2]. A [note]"
    assert stream.removed == 2
    assert stream.cited == [1, 2]


def test_resolve_citations_maps_numbers_to_file_and_page():
    sources = [source(1, "x", 4), source(2, "y", 9)]
    answer = resolve_citations("It is 42 [2] , as stated [1] [5].", sources)
    assert answer.text == "It is 42 [2], as stated [1]."
    assert [(s.file, s.page) for s in answer.cited] == [("doc2.pdf", 9), ("doc1.pdf", 4)]
    assert answer.removed_markers == 1 and not answer.refused
    assert resolve_citations("I could not find this in your documents.", sources).refused


@pytest.mark.parametrize("question, history, expected", [
    ("and in 2022?", [("user", "Revenue of Acme in 2021?"), ("assistant", "10 M [1]")], True),
    ("What did it cost?", [("user", "Tell me about the bridge"), ("assistant", "...")], True),
    ("What was the total revenue of Acme Corp in fiscal year 2021?",
     [("user", "hello"), ("assistant", "hi")], False),
    ("and in 2022?", [], False),
])
def test_needs_rewrite(question, history, expected):
    assert needs_rewrite(question, history) is expected


def test_clean_rewrite_falls_back_to_the_question():
    assert clean_rewrite('Standalone question: "What was Acme revenue in 2022?"\nextra', "and 2022?") \
        == "What was Acme revenue in 2022?"
    assert clean_rewrite("   ", "and 2022?") == "and 2022?"


def test_refusal_detection():
    assert is_refusal("I could not find this in your documents")
    assert not is_refusal("The documents state that revenue was 10 M [1].")


def test_answer_metrics_on_hand_checked_cases():
    assert token_recall("The virus spreads by droplets.", "droplets") == 1.0
    assert token_recall("by air", "respiratory droplets") == 0.0
    assert token_f1("the cat sat", "a cat sat down") == pytest.approx(2 * (2 / 2) * (2 / 3) / (1 + 2 / 3))
    assert contains("It is the ACE2 receptor.", "ACE2 receptor")
    assert not contains("It is ACE2.", "ACE2 receptor")
    assert numbers_in("$1,577 million, (3.5)% and 7%") == [1577.0, -3.5, 7.0]
    assert numeric_match("Capex was $1,580 million [1].", "$1577.00") is True  # within 1 %
    assert numeric_match("Capex was $1,600 million.", "$1577.00") is False
    assert numeric_match("no figures", "Yes, it did.") is None


def test_focus_keeps_the_part_of_a_long_passage_that_matches_the_question():
    from app.answer.prompting import focus

    filler = "The committee met again and discussed the agenda at length. " * 30
    text = filler + "The dredging contract went to Meridian Marine for 4.7 million euros. " + filler
    window = focus(text, "Who won the dredging contract?", 300)
    assert "Meridian Marine" in window and len(window) <= 300 + 4
    assert window.startswith("… ") and window.endswith(" …")
    assert focus("short passage", "anything", 300) == "short passage"


def test_unicode_punctuation_counts_as_punctuation_in_the_metrics():
    # The gold answer has U+2010 (hyphen), the model writes "-": the same answer.
    assert token_recall("HCoV-HKU1 showed it.", "HCoV\u2010HKU1") == 1.0
    assert contains("It was \u201cMeridian\u201d Marine.", "Meridian Marine")
