"""Composition root: builds the components from ``Settings``. Only entry points call this."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.retrieval import Retriever
from ingest.embed import Embedder
from ingest.pipeline import Ingestor
from ingest.registry import Registry
from ingest.settings import Settings
from ingest.store import VectorStore, open_client

if TYPE_CHECKING:
    from app.answer.chain import RagChain


def open_registry(settings: Settings) -> Registry:
    return Registry(settings.registry_path)


def open_embedder(settings: Settings) -> Embedder:
    return Embedder(settings.embedding_model, batch_size=settings.embed_batch_size,
                    precision=settings.embedding_precision)


def open_ingestor(settings: Settings, embedder: Embedder | None = None) -> Ingestor:
    """Registry + embedder + Chroma store under ``settings.data_dir`` (hold a WriterLock)."""
    embedder = embedder or open_embedder(settings)
    store = VectorStore(open_client(settings.index_dir, settings.chroma_url), embedder)
    return Ingestor(
        open_registry(settings),
        store,
        embedder,
        chunk_size=settings.chunk_size,
        chunk_overlap=settings.chunk_overlap,
        embed_batch_size=settings.embed_batch_size,
        embed_context=settings.embed_context,
        ocr=settings.ocr_options,
    )


def open_retriever(settings: Settings, embedder: Embedder | None = None) -> Retriever:
    """Hybrid retriever over the index under ``settings.data_dir`` (read-only use)."""
    embedder = embedder or open_embedder(settings)
    store = VectorStore(open_client(settings.index_dir, settings.chroma_url), embedder)
    return retriever_over(settings, store, open_registry(settings), embedder)


def retriever_over(settings: Settings, store: VectorStore, registry: Registry,
                   embedder: Embedder) -> Retriever:
    """Hybrid retriever over an open store and registry, fused as the settings say."""
    return Retriever(
        store,
        registry,
        embedder,
        candidates=settings.retrieval_candidates,
        dense_weight=settings.dense_weight,
        lexical_weight=settings.lexical_weight,
        phrase_weight=settings.phrase_weight,
        rrf_k=settings.rrf_k,
        document_weight=settings.document_weight,
        topic_weight=settings.topic_weight,
        period_weight=settings.period_weight,
        statement_weight=settings.statement_weight,
    )


def eval_settings(settings: Settings, docs_dir: Path) -> Settings:
    """Settings of an isolated index for evaluating ``docs_dir``: one per folder, chunking and
    model, so an unchanged evaluation reuses its index and never touches the user's."""
    import hashlib

    recipe = f"{docs_dir.resolve()}|{settings.embedding_model}|{settings.chunk_size}|" \
             f"{settings.chunk_overlap}|{settings.embed_context}"
    if settings.embedding_precision != "auto":  # auto: the recipe (and index) of before
        recipe += f"|{settings.embedding_precision}"
    digest = hashlib.sha1(recipe.encode()).hexdigest()[:10]
    folder = settings.data_dir / "eval" / f"{docs_dir.resolve().name}-{digest}"
    # Models stay where the user's are: a second 1 GB copy per evaluation helps nobody.
    return settings.model_copy(update={"data_dir": folder, "models_path": settings.models_dir})


def open_chain(settings: Settings, on_status: Callable[[str], None] = lambda _: None,
               embedder: Embedder | None = None, retriever: Any = None) -> RagChain:
    """Retriever (anything with ``search(query, k)``; by default one over the settings' index)
    + the LLM backend the settings choose, composed into the answering chain."""
    from app.answer.chain import RagChain
    from app.llm.backends import open_llm

    retriever = retriever or open_retriever(settings, embedder)
    return RagChain(retriever, open_llm(settings, on_status), k=settings.top_k,
                    relevance_threshold=settings.relevance_threshold,
                    source_chars=settings.source_chars, check_claims=settings.check_claims,
                    check_answerability=settings.check_answerability, quote=settings.quote)
