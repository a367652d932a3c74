"""Answers end to end: generated PDFs, the real embedder, real Chroma, a real GGUF through
llama.cpp in process (Qwen2.5-0.5B, the smallest model that answers reliably)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pdfgen import prose, write_pdf

from app.answer.prompting import REFUSAL
from ingest.settings import Settings

REPO = Path(__file__).resolve().parents[1]
FACT_PAGE = 1  # 0-based: the second page


def write_corpus(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    write_pdf(folder / "harbor report.pdf", [
        prose("harbor budget"),
        "The Harbor Authority awarded the dredging contract to Meridian Marine for 4.7 million "
        "euros. Dredging of the north channel starts in March 2025 and must be finished within "
        "14 months. " + prose("dredging", 4),
        prose("fishing fleet"),
    ], title="Harbor Authority Annual Report 2024")
    write_pdf(folder / "garden.pdf", [
        prose("roses and soil"),
        "The community garden opens on Saturdays from 9 to 12. Tomatoes need six hours of sun. "
        + prose("compost", 4),
    ], title="Community Garden Handbook")


@pytest.fixture(scope="module")
def config(tmp_path_factory, test_gguf, shared_embedder) -> Settings:
    from app.components import open_ingestor

    root = tmp_path_factory.mktemp("answers")
    write_corpus(root / "docs")
    # Four sources of 800 characters, as before the shorter default: the 0.5B test model lost the
    # thread of a follow-up in 2 of 3 runs with three shorter ones. The defaults are measured with
    # the default 1.5B model (docs/BENCHMARKS.md, issue 13); the guideline-dose test runs them.
    settings = Settings(data_dir=root / "data", llm_backend="llamacpp",
                        gguf=str(test_gguf("qwen2.5-0.5b")), top_k=4, source_chars=[800])
    ingestor = open_ingestor(settings, shared_embedder)
    ingestor.ingest([root / "docs"])
    ingestor.close()
    return settings


@pytest.fixture(scope="module")
def chain(config, shared_embedder):
    from app.components import open_chain

    return open_chain(config, embedder=shared_embedder)


def test_known_fact_is_answered_and_cited_to_its_page(chain):
    events = list(chain.stream("Which company was awarded the dredging contract, and for how much?"))
    answer = events[-1].answer
    assert sum(e.kind == "token" for e in events) > 3  # streamed as generated
    assert "first_token_ms" in answer.timings
    assert answer.timings["first_token_ms"] < answer.timings["total_ms"]
    assert "meridian" in answer.text.lower() and "4.7" in answer.text
    assert not answer.refused and not answer.not_found
    assert ("harbor report.pdf", FACT_PAGE) in [(s.file, s.page) for s in answer.cited]
    # Unchecked text never carries a marker; the checked sentences make up the answer.
    assert not any("[" in e.text for e in events if e.kind == "token")
    assert " ".join(e.text for e in events if e.kind == "claim") == answer.text
    supported = [c for c in answer.claims if c.supported and c.checked]
    assert supported and all(c.evidence is not None for c in supported)
    # The answer stands, so the quote of the passage stays above it, cited and shaded.
    quote = answer.quote
    assert quote is not None and "Meridian Marine" in quote.text
    assert answer.shown_text == f"{quote.render()}\n\n{answer.text}"
    assert quote.source in {s.number for s in answer.cited}
    assert (quote.start, quote.end) in answer.evidence()[quote.source]


def mapped_files() -> set[str]:
    return {line.split(maxsplit=5)[5] for line in Path("/proc/self/maps").read_text().splitlines()
            if len(line.split(maxsplit=5)) == 6}


def test_the_model_is_read_into_memory_unless_mapping_is_asked_for(chain, config):
    # On these CPUs llama.cpp repacks most weights into its own buffers: a mapped GGUF stayed
    # resident beside them (1.06 GB for the 1.5B model, docs/BENCHMARKS.md "Model memory").
    from app.llm.backends import open_llm

    gguf = str(Path(config.gguf).resolve())
    assert chain.llm.details["mmap"] is False
    assert gguf not in mapped_files()
    mapped = open_llm(config.model_copy(update={"llm_mmap": True}))
    try:
        assert mapped.details["mmap"] is True and gguf in mapped_files()
    finally:
        mapped.chat_model.client.close()


def test_llama_cpp_is_built_without_the_amx_kernels_that_crash(chain):
    # `make setup` compiles llama.cpp without AMX: with it every answer segfaulted on a
    # Sapphire Rapids-class CPU (llama.cpp #20824).
    import llama_cpp

    info = llama_cpp.llama_print_system_info()
    assert b"AMX_INT8 = 1" not in info, info
    # Not repacked by default: the first token comes sooner (docs/BENCHMARKS.md).
    assert chain.llm.details["weight_repacking"] == "off"
    assert chain.llm.chat_model.client.model_params.use_extra_bufts is False


def open_repacked(config, monkeypatch, amx: bool):
    import llama_cpp

    import app.llm.llamacpp_kernels as kernels
    from app.llm.backends import open_llm

    defaults = llama_cpp.llama_cpp.llama_model_default_params
    monkeypatch.setattr(kernels, "has_amx_kernels", lambda _: amx)
    llm = open_llm(config.model_copy(update={"llm_repack": True}))
    assert llama_cpp.llama_cpp.llama_model_default_params is defaults  # restored
    return llm


def test_repacking_is_asked_for_and_refused_for_a_build_with_amx_kernels(config, monkeypatch):
    llm = open_repacked(config, monkeypatch, amx=False)
    try:
        assert llm.chat_model.client.model_params.use_extra_bufts is True
        assert llm.details["weight_repacking"] == "on"
    finally:
        llm.chat_model.client.close()
    llm = open_repacked(config, monkeypatch, amx=True)
    try:
        assert llm.chat_model.client.model_params.use_extra_bufts is False
        assert llm.details["weight_repacking"].startswith("off: this llama.cpp build has AMX")
        assert llm.complete([("user", "Reply with the single word: ready")]).strip()
    finally:
        llm.chat_model.client.close()


def test_sources_and_the_quote_come_before_the_first_token(chain):
    events = list(chain.stream("When does the community garden open on Saturdays?"))
    kinds = [e.kind for e in events]
    assert kinds[0] == "sources" and kinds[1] == "quote" and "token" in kinds
    first = events[0]
    assert first.answer.sources[0].file == "garden.pdf"
    assert first.text.startswith("reading ") and "tokens, ~" in first.text
    # The quote is the source's own sentence, found before the model starts, and it is in the
    # passage the model reads, at the span the sources panel shades.
    answer = events[-1].answer
    quote = answer.quote
    assert "opens on Saturdays from 9 to 12" in events[1].text == quote.render()
    source = next(s for s in answer.sources if s.number == quote.source)
    assert source.file == "garden.pdf"
    assert " ".join(source.text[quote.start:quote.end].split()) == quote.text


def test_a_question_within_chosen_documents_cites_only_them(chain):
    question = "When does the community garden open on Saturdays?"
    [garden] = [d.doc_id for d in chain.retriever.registry.documents() if d.name == "garden.pdf"]
    # The garden handbook has two pages: the library's four passages take the harbor's too.
    assert "harbor report.pdf" in {h.file for h in chain.retriever.search(question, 4)}
    answer = chain.answer(question, scope={garden})
    assert not answer.refused and not answer.not_found
    assert answer.sources and {s.file for s in answer.sources} == {"garden.pdf"}
    assert answer.cited and {s.file for s in answer.cited} == {"garden.pdf"}


def test_a_guideline_dose_the_papers_lack_is_never_a_cited_number(tmp_path, test_gguf,
                                                                  shared_embedder):
    """The issue's case: a paper with a drug's lab results (no dosing), asked for a dose."""
    import re

    from app.components import open_chain, open_ingestor

    write_pdf(tmp_path / "docs" / "favipiravir lab.pdf", [
        prose("antiviral screening"),
        "Favipiravir was tested in vitro against SARS-CoV-2 in Vero E6 cells. The half-maximal "
        "effective concentration (EC50) was 61.88 micromolar and the drug showed low cytotoxicity. "
        "Remdesivir and chloroquine were tested in the same assay for comparison. "
        + prose("cell culture", 3),
    ], title="In vitro activity of favipiravir")
    settings = Settings(data_dir=tmp_path / "data", llm_backend="llamacpp",
                        gguf=str(test_gguf("qwen2.5-0.5b")))
    ingestor = open_ingestor(settings, shared_embedder)
    ingestor.ingest([tmp_path / "docs"])
    ingestor.close()
    chain = open_chain(settings, embedder=shared_embedder)
    for question in ("What dose of favipiravir did the 2021 treatment guideline recommend?",
                     "What is the recommended daily dose of favipiravir in mg/kg?"):
        answer = chain.answer(question)
        source_numbers = {n for s in answer.sources for n in re.findall(r"\d+(?:\.\d+)?", s.text)}
        for claim in answer.claims:
            if claim.shown:  # shown as a cited fact: every number in it is in its source
                numbers = set(re.findall(r"\d+(?:\.\d+)?", claim.text))
                assert numbers <= source_numbers | {"2021"}, (question, claim)
        assert not any("mg" in c.text.lower() for c in answer.claims if c.shown), answer.text


def test_question_about_something_absent_says_so(chain):
    answer = chain.answer("What is the boiling point of liquid nitrogen at sea level?")
    assert answer.refused and answer.text == REFUSAL
    assert answer.not_found and "first_token_ms" not in answer.timings  # the model was not asked
    assert answer.closest  # the closest passages are still shown
    assert answer.quote is None and answer.shown_text == REFUSAL  # no quote for a refusal


def test_follow_up_is_rewritten_from_the_conversation(chain):
    from app.answer.chain import Conversation

    conversation = Conversation(chain)
    first = [e for e in conversation.stream("Who got the dredging contract?")][-1].answer
    assert "meridian" in first.text.lower()
    follow = [e for e in conversation.stream("and when does that work start?")][-1].answer
    assert follow.standalone_question != "and when does that work start?"
    assert "rewrite_ms" in follow.timings
    assert "dredg" in follow.standalone_question.lower() or "meridian" in \
        follow.standalone_question.lower()
    assert "march" in follow.text.lower() or "2025" in follow.text
    assert follow.sources[0].file == "harbor report.pdf" and follow.sources[0].page == FACT_PAGE
    assert len(conversation.history) == 4 and "[" not in conversation.history[1][1]


def test_self_contained_question_skips_the_rewrite(chain):
    answer = chain.answer("When does the community garden open on Saturdays?",
                          history=[("user", "Who got the dredging contract?"),
                                   ("assistant", "Meridian Marine.")])
    assert "rewrite_ms" not in answer.timings
    assert answer.sources[0].file == "garden.pdf"
    assert "9" in answer.text


def test_small_window_is_packed_and_reported_never_cut_silently(chain, monkeypatch):
    from app.answer.chain import ContextTooSmall

    monkeypatch.setattr(chain, "k", 4)
    monkeypatch.setattr(chain.llm, "num_ctx", 1000)
    answer = chain.answer("Which company was awarded the dredging contract?")
    assert answer.left_out  # what did not fit is listed
    assert answer.prompt_tokens <= 1000 - chain.llm.num_predict
    assert answer.sources and answer.sources[0].page == FACT_PAGE
    assert len(answer.sources) < 4
    monkeypatch.setattr(chain.llm, "num_ctx", 700)
    with pytest.raises(ContextTooSmall, match="no room for any source: raise num_ctx"):
        chain.answer("Which company was awarded the dredging contract?")


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app.cli", *args], capture_output=True,
                          text=True, env=env, timeout=600)


def test_ask_and_doctor_commands(config, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "LOCALRAG_DATA_DIR": str(config.data_dir),
           "LOCALRAG_GGUF": config.gguf, "LOCALRAG_LLM_BACKEND": "auto",
           "LOCALRAG_OLLAMA_URL": "http://127.0.0.1:9"}  # nothing listens: auto falls back
    done = _cli("ask", "--json", "When does the community garden open?", env=env)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["backend"] == "llamacpp"
    assert ("garden.pdf", 2) in [(c["file"], c["page_label"]) for c in result["cited"]]

    done = _cli("doctor", env=env)
    assert done.returncode == 0, done.stderr
    assert "LLM backend: llamacpp (Ollama is not reachable at http://127.0.0.1:9" in done.stdout
    assert "context: 4096 tokens" in done.stdout and "gpu offload supported:" in done.stdout

    done = _cli("doctor", env={**env, "LOCALRAG_GGUF": str(tmp_path / "missing.gguf")})
    assert done.returncode == 1
    assert f"model file not found: {tmp_path / 'missing.gguf'}" in done.stderr
    done = _cli("ask", "anything", env={**env, "LOCALRAG_LLM_BACKEND": "gpt"})
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "llm_backend" in done.stderr and "'auto', 'ollama', 'llamacpp' or 'openai'" in done.stderr


def test_eval_scores_answers(config, tmp_path):
    docs = config.data_dir.parent / "docs"
    rows = [
        {"id": "q1", "question": "Which company was awarded the dredging contract?",
         "answer": "Meridian Marine", "evidence": [{"source_file": "harbor report.pdf", "page": 1}]},
        {"id": "q2", "question": "How much is the dredging contract worth, in million euros?",
         "answer": "4.7 million euros",
         "evidence": [{"source_file": "harbor report.pdf", "page": 1}]},
    ]
    questions = tmp_path / "questions_dev.jsonl"
    questions.write_text("".join(json.dumps(r) + "\n" for r in rows))
    absent = tmp_path / "absent.jsonl"
    absent.write_text(json.dumps({"id": "a1", "absent": True, "answer": None, "evidence": [],
                                  "question": "How much did the Harbor Authority pay for the "
                                              "lighthouse repairs in 2019?"}) + "\n")
    env = {**os.environ, "PYTHONPATH": str(REPO), "LOCALRAG_DATA_DIR": str(config.data_dir),
           "LOCALRAG_GGUF": config.gguf, "LOCALRAG_LLM_BACKEND": "llamacpp"}
    done = _cli("eval", str(questions), "--docs", str(docs), "--answers", "--absent", str(absent),
                "--out", str(tmp_path / "results.jsonl"), env=env)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in (tmp_path / "results.answers.jsonl").open()]
    assert [r["id"] for r in records] == ["q1", "a1", "q2"]  # absent ones interleaved
    assert records[1]["refused"] and records[1]["metrics"] is None
    records = [records[0], records[2]]
    assert records[0]["metrics"]["token_recall"] == 1.0  # "Meridian Marine" in the answer
    assert records[1]["metrics"]["numeric_match"] == 1.0
    assert ["harbor report.pdf", 1] in records[0]["cited"]
    assert records[0]["citations_on_gold"] >= 1 and records[0]["claims"]
    summary = json.loads((tmp_path / "results.answers.summary.json").read_text())
    assert summary["answered"] == 3 and summary["refusal_rate"] == 0.0
    assert summary["absent_refusal_rate"] == 1.0 and summary["false_refusal_rate"] == 0.0
    assert summary["citation_precision"]["mean"] > 0
    assert summary["first_token_ms"]["p50"] > 0
    assert "token_recall" in done.stdout and "first_token_ms" in done.stdout
    assert "absent_refusal_rate" in done.stdout and "claims checked" in done.stdout


def test_chat_command_keeps_the_conversation(config):
    env = {**os.environ, "PYTHONPATH": str(REPO), "LOCALRAG_DATA_DIR": str(config.data_dir),
           "LOCALRAG_GGUF": config.gguf, "LOCALRAG_LLM_BACKEND": "llamacpp"}
    done = subprocess.run([sys.executable, "-m", "app.cli", "chat"], capture_output=True, text=True,
                          env=env, timeout=600,
                          input="Who got the dredging contract?\nand when does that work start?\n\n")
    assert done.returncode == 0, done.stderr
    assert "meridian" in done.stdout.lower()
    assert "(searched for: " in done.stderr  # the follow-up was rewritten before searching
    cited = [line for line in done.stdout.splitlines() if line.startswith("Cited: ")]
    assert sum("harbor report.pdf p.2" in line for line in cited) >= 2  # both answers cite it
    # The sources are printed before the answer that comes from them.
    first_answer = done.stdout.split("> ", 2)[1]
    assert first_answer.lstrip().startswith("Sources:\n  [1] ")
    assert "meridian" in first_answer.split("\n\n", 1)[1].lower()
