"""Retrieval evaluation on question files with gold pages (the ../shared/eval format).

Every pipeline is scored on what it would hand the model: its ranked passages, each reduced to a
key (file, page), or file alone where the gold is document-level (``page`` null). No knowledge of
any particular question set lives here: any file of that format works.
"""

from __future__ import annotations

import json
import random
import shutil
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Key = tuple[str, int | None]


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    answer: str
    gold: frozenset[Key]
    document_level: bool
    context_dependent: bool = False
    absent: bool = False  # the documents do not answer it: the right answer is a refusal


@dataclass(frozen=True)
class Ranked:
    """One retrieved item as scored: file name, page and score."""

    file: str
    page: int
    score: float


def load_questions(path: Path) -> list[Question]:
    """Read a questions file; a question with any page-less evidence is scored per document."""
    questions = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                evidence = row.get("evidence") or []
                document_level = any(e.get("page") is None for e in evidence)
                gold = frozenset(
                    (Path(e["source_file"]).name, None if document_level else int(e["page"]))
                    for e in evidence
                )
                questions.append(Question(
                    str(row["id"]), str(row["question"]), str(row.get("answer") or ""), gold,
                    document_level, bool(row.get("context_dependent", False)),
                    bool(row.get("absent", False)),
                ))
            except (KeyError, TypeError, ValueError) as err:
                raise ValueError(f"{path}:{number}: not a question row ({err})") from err
    return questions


def spread_sample(questions: Sequence[Question], n: int, seed: int = 0) -> list[Question]:
    """``n`` questions spread over the documents: one per document in turn (documents and the
    questions within each in a seeded random order). The first rows of a question file are
    often about one document; a mean over them says little about the others."""
    rng = random.Random(seed)
    by_document: dict[str, list[Question]] = {}
    for question in questions:
        if question.context_dependent:
            continue
        first = min(question.gold)[0] if question.gold else ""
        by_document.setdefault(first, []).append(question)
    groups = [by_document[name] for name in sorted(by_document)]
    rng.shuffle(groups)
    for group in groups:
        rng.shuffle(group)
    picked: list[Question] = []
    while len(picked) < n and any(groups):
        for group in groups:
            if group and len(picked) < n:
                picked.append(group.pop())
    return picked


def keys(ranked: Sequence[Ranked], document_level: bool) -> list[Key]:
    return [(r.file, None if document_level else r.page) for r in ranked]


def hit_at(ranked: Sequence[Key], gold: frozenset[Key], k: int) -> float:
    """1.0 if any gold key is among the first ``k`` items."""
    return 1.0 if any(key in gold for key in ranked[:k]) else 0.0


def recall_at(ranked: Sequence[Key], gold: frozenset[Key], k: int) -> float:
    """Share of the gold keys found among the first ``k`` items."""
    if not gold:
        return 0.0
    return len(gold & set(ranked[:k])) / len(gold)


def reciprocal_rank(ranked: Sequence[Key], gold: frozenset[Key], cutoff: int = 10) -> float:
    """1/rank of the first gold key within ``cutoff``; 0 if none."""
    for rank, key in enumerate(ranked[:cutoff], start=1):
        if key in gold:
            return 1.0 / rank
    return 0.0


def bootstrap_interval(values: Sequence[float], resamples: int = 1000, seed: int = 0,
                       level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean (seeded: the same input gives the same CI)."""
    if not values:
        return (0.0, 0.0)
    rng = random.Random(seed)
    n = len(values)
    means = sorted(sum(rng.choices(values, k=n)) / n for _ in range(resamples))
    low = means[int((1 - level) / 2 * resamples)]
    high = means[min(resamples - 1, int((1 + level) / 2 * resamples))]
    return (low, high)


def score_question(question: Question, ranked: Sequence[Ranked], ks: Iterable[int]
                   ) -> dict[str, float]:
    items = keys(ranked, question.document_level)
    scores = {"mrr@10": reciprocal_rank(items, question.gold, 10)}
    for k in ks:
        scores[f"hit@{k}"] = hit_at(items, question.gold, k)
        scores[f"recall@{k}"] = recall_at(items, question.gold, k)
    return scores


def summarize(records: Sequence[dict[str, Any]], metric_names: Sequence[str]) -> dict[str, Any]:
    """Mean and 95 % bootstrap interval of each metric over the scored questions."""
    scored = [r for r in records if r.get("scored")]
    summary: dict[str, Any] = {"questions": len(records), "scored": len(scored)}
    for name in metric_names:
        values = [r["metrics"][name] for r in scored]
        mean = sum(values) / len(values) if values else 0.0
        low, high = bootstrap_interval(values)
        summary[name] = {"mean": mean, "ci95": [low, high]}
    latencies = [r["latency_ms"] for r in scored]
    if latencies:
        ordered = sorted(latencies)
        summary["latency_ms"] = {"p50": statistics.median(ordered),
                                 "p95": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]}
    return summary


def metric_names(ks: Sequence[int]) -> list[str]:
    names = []
    for k in ks:
        names += [f"hit@{k}", f"recall@{k}"]
    return [*names, "mrr@10"]


def evaluate(
    questions: Sequence[Question],
    retrieve: Callable[[str], Sequence[Ranked]],
    ks: Sequence[int],
    on_record: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Retrieve for every question; return per-question records and the summary.

    Questions that depend on context ("what is discussed in this publication?") or that have no
    gold evidence are recorded but not scored.
    """
    records = []
    for question in questions:
        started = time.perf_counter()
        ranked = list(retrieve(question.question))
        latency = (time.perf_counter() - started) * 1000
        scored = bool(question.gold) and not question.context_dependent
        record: dict[str, Any] = {
            "id": question.id,
            "question": question.question,
            "scored": scored,
            "latency_ms": latency,
            "hits": [{"file": r.file, "page": r.page, "score": r.score} for r in ranked],
            "gold": sorted([f, p] for f, p in question.gold),
        }
        if scored:
            record["metrics"] = score_question(question, ranked, ks)
        records.append(record)
        if on_record is not None:
            on_record(record)
    return records, summarize(records, metric_names(ks))


class TutorialPipeline:
    """The pipeline a user copies from the LangChain tutorial: PyPDFLoader, a recursive splitter
    (1000/200), Chroma.from_documents and similarity search, with the same embedding model."""

    def __init__(self, docs_dir: Path, index_dir: Path, model_path: str) -> None:
        self.docs_dir = docs_dir
        self.index_dir = index_dir
        self.model_path = model_path
        self.failed: list[str] = []
        self._store: Any = None

    def build(self) -> None:
        from langchain_chroma import Chroma
        from langchain_community.document_loaders import PyPDFLoader
        from langchain_huggingface import HuggingFaceEmbeddings
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        embeddings = HuggingFaceEmbeddings(model_name=self.model_path,
                                           encode_kwargs={"normalize_embeddings": True})
        pdfs = sorted(self.docs_dir.rglob("*.pdf"))
        marker = self.index_dir / "built.json"
        listing = [f"{p.relative_to(self.docs_dir)}:{p.stat().st_size}" for p in pdfs]
        if marker.exists() and json.loads(marker.read_text()).get("files") == listing:
            self._store = Chroma(persist_directory=str(self.index_dir),
                                 embedding_function=embeddings)
            self.failed = json.loads(marker.read_text()).get("failed", [])
            return
        # Chroma.from_documents adds to what a directory holds: a rebuild into an old index would
        # measure the tutorial with every chunk twice.
        if self.index_dir.exists():
            shutil.rmtree(self.index_dir)
        docs = []
        for pdf in pdfs:
            try:
                docs.extend(PyPDFLoader(str(pdf)).load())
            except Exception as err:  # the tutorial loses such files; so does this baseline
                self.failed.append(f"{pdf.name}: {type(err).__name__}")
        splits = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200
                                                ).split_documents(docs)
        self._store = Chroma.from_documents(splits, embeddings,
                                            persist_directory=str(self.index_dir))
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps({"files": listing, "failed": self.failed}))

    def retrieve(self, question: str, n: int) -> list[Ranked]:
        pairs = self._store.similarity_search_with_score(question, k=n)
        return [Ranked(Path(doc.metadata.get("source", "")).name, int(doc.metadata.get("page", 0)),
                       float(-distance)) for doc, distance in pairs]
