"""Hybrid retrieval over ingest's store: dense vectors + BM25, fused, neighbours merged.

Dense search finds paraphrases; BM25 finds the exact rare word (an ID, a number, a name) that a
small embedding model blurs. Reciprocal rank fusion combines ranks, not scores, so the two
scales never need calibrating.

Over 400 lines because the search's stages (dense, keyword, named and topical documents, fusion,
page merging) share one set of candidates and timings, and run on three threads that only the
Retriever coordinates.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from ingest.embed import Embedder
from ingest.filings import asked_period, asked_statements
from ingest.lexical import STEM_CHARS, STOPWORDS, stems
from ingest.lexical import StoredChunk as Candidate  # one chunk proposed by a retriever
from ingest.registry import Registry
from ingest.store import VectorStore

log = logging.getLogger(__name__)

RRF_K = 60
# How many documents the topical prior ranks: below the 50th it would add under a sixth of what
# the first gets (1/(k+50) against 1/(k+1) at k = 10), so they are not fetched.
TOPICAL_DOCUMENTS = 50
# Statement pages are searched in at most this many filings (a question about FY2019 that names
# no company matches every 2019 filing of a large library: the period still counts, the pages not).
STATEMENT_DOCUMENTS = 50


@dataclass(frozen=True)
class Hit:
    """A passage to show or to give the model: one chunk, or neighbouring chunks merged."""

    doc_id: str
    file: str
    path: str
    title: str
    page: int
    start: int
    end: int
    text: str
    score: float
    chunk_ids: tuple[str, ...]
    dense_rank: int | None = None
    lexical_rank: int | None = None
    spans: tuple[tuple[int, int], ...] = ()
    # Best cosine similarity of the passage's chunks to the question: fused scores are ranks,
    # this is the absolute measure used to decide whether anything relevant was found.
    similarity: float = 0.0


@dataclass
class SearchTimings:
    embed_ms: float = 0.0
    dense_ms: float = 0.0
    lexical_ms: float = 0.0
    documents_ms: float = 0.0
    fuse_ms: float = 0.0

    @property
    def total_ms(self) -> float:
        return self.embed_ms + self.dense_ms + self.lexical_ms + self.documents_ms + self.fuse_ms


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[str]], weights: Sequence[float] | None = None, k: int = RRF_K
) -> dict[str, float]:
    """Fused score per id: sum over rankings of ``weight / (k + rank)`` (rank from 1)."""
    weights = weights or [1.0] * len(rankings)
    scores: dict[str, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    return scores


def phrase_ranking(query: str, candidates: Sequence[Candidate]) -> list[Candidate]:
    """Candidates holding the query's adjacent word pairs ("capture antibodies"), most pairs
    first; the ones with none are left out.

    Questions often reuse a phrase of the passage that answers them. Counting pairs over the
    few candidates that dense and keyword search found costs ~1 ms, where a phrase query over
    the whole keyword index cost up to 126 ms at 100k chunks, for the same hit@4.
    """
    words = stems(query)
    stop = {w[:STEM_CHARS] for w in STOPWORDS}
    pairs = {(a, b) for a, b in zip(words, words[1:], strict=False)
             if not (a in stop and b in stop)}
    if not pairs:
        return []
    counted = []
    for cand in candidates:
        passage = stems(cand.text)
        found = sum(1 for pair in zip(passage, passage[1:], strict=False) if pair in pairs)
        if found:
            counted.append((found, cand))
    counted.sort(key=lambda item: -item[0])
    return [cand for _, cand in counted]


def document_boost(named: dict[str, float], weight: float, k: int) -> dict[str, float]:
    """Fused-score bonus per document the question names: up to what a first place in one more
    ranking would give (``weight / (k + 1)``), in proportion to how well the document matches.

    Proportional, not by rank: the four filings of the company a question names must rise
    together; ranking them 1-4 would push whichever the name match happens to favour.
    """
    best = max(named.values(), default=0.0)
    if best <= 0:
        return {}
    return {doc_id: weight * score / best / (k + 1) for doc_id, score in named.items()}


def _join(a: Candidate, b: Candidate) -> Candidate:
    """Extend passage ``a`` with chunk ``b`` (starting at or after a), using page offsets."""
    if b.end <= a.end:
        return a
    if b.start <= a.end:
        return replace(a, end=b.end, text=a.text + b.text[a.end - b.start :])
    return replace(a, end=b.end, text=a.text + " " + b.text)


SEGMENT_SEPARATOR = " … "
# More matching segments than this on one page add length, not evidence.
MAX_SEGMENTS_PER_PAGE = 3


@dataclass(frozen=True)
class Passage:
    """What one page contributes: its matching segments (merged chunks), in page order."""

    doc_id: str
    page: int
    segments: tuple[Candidate, ...]
    score: float
    chunk_ids: tuple[str, ...]

    @property
    def text(self) -> str:
        return SEGMENT_SEPARATOR.join(seg.text for seg in self.segments)


def merge_by_page(ranked: Sequence[tuple[Candidate, float]]) -> list[Passage]:
    """One passage per page, best first.

    Overlapping or consecutive chunks merge into one segment (using their page offsets); a page
    scores as its best chunk and keeps its best few segments. Gold, citations and the reader
    all work in pages, so a second chunk of a page already shown must not take another slot.
    """
    pages: dict[tuple[str, int], list[tuple[Candidate, float]]] = {}
    for cand, score in ranked:
        pages.setdefault((cand.doc_id, cand.page), []).append((cand, score))
    passages = []
    for (doc_id, page), items in pages.items():
        items.sort(key=lambda item: (item[0].start, item[0].end))
        segments: list[tuple[Candidate, float, list[str]]] = []
        last_index = -2
        for cand, score in items:
            if segments and (cand.start <= segments[-1][0].end or cand.index == last_index + 1):
                seg, best, ids = segments[-1]
                segments[-1] = (_join(seg, cand), max(best, score), [*ids, cand.chunk_id])
                last_index = max(last_index, cand.index)
            else:
                segments.append((cand, score, [cand.chunk_id]))
                last_index = cand.index
        kept = sorted(segments, key=lambda seg: -seg[1])[:MAX_SEGMENTS_PER_PAGE]
        kept.sort(key=lambda seg: seg[0].start)
        passages.append(Passage(
            doc_id, page, tuple(seg for seg, _, _ in kept), max(b for _, b, _ in kept),
            tuple(i for _, _, ids in kept for i in ids),
        ))
    passages.sort(key=lambda p: -p.score)
    return passages


class Retriever:
    """Hybrid search over one index. Cheap to create; holds no per-query state."""

    def __init__(
        self,
        store: VectorStore,
        registry: Registry,
        embedder: Embedder,
        candidates: int = 40,
        dense_weight: float = 1.0,
        lexical_weight: float = 1.0,
        phrase_weight: float = 0.5,
        rrf_k: int = 10,
        document_weight: float = 1.0,
        topic_weight: float = 0.5,
        period_weight: float = 1.0,
        statement_weight: float = 1.0,
    ) -> None:
        self.store = store
        self.registry = registry
        self.embedder = embedder
        self.candidates = candidates
        self.dense_weight = dense_weight
        self.lexical_weight = lexical_weight
        self.phrase_weight = phrase_weight
        self.rrf_k = rrf_k
        self.document_weight = document_weight
        self.topic_weight = topic_weight
        self.period_weight = period_weight
        self.statement_weight = statement_weight
        self.last_timings = SearchTimings()
        self._dense_worker: ThreadPoolExecutor | None = None
        self._side_worker: ThreadPoolExecutor | None = None
        self._side_registry: Registry | None = None
        self._side_lock = threading.Lock()

    def _worker(self) -> ThreadPoolExecutor:
        if self._dense_worker is None:
            self._dense_worker = ThreadPoolExecutor(1, thread_name_prefix="dense-search")
        return self._dense_worker

    def _side(self) -> tuple[ThreadPoolExecutor, Registry]:
        """A thread with its own registry connection for the document-level searches: one
        SQLite connection runs one statement at a time, so on the shared one they would wait
        for the keyword search (at a million chunks they cost about as much as it does)."""
        with self._side_lock:
            if self._side_worker is None:
                self._side_registry = self.registry.reader()
                self._side_worker = ThreadPoolExecutor(1, thread_name_prefix="document-search")
            assert self._side_registry is not None
            return self._side_worker, self._side_registry

    def dense(self, vector: list[float], limit: int, timings: SearchTimings,
              doc_ids: Collection[str] | None = None
              ) -> tuple[list[Candidate], dict[str, float]]:
        """Nearest chunks (of the documents ``doc_ids`` only, when given) and their cosine
        similarities (Chroma 1.5 answers an n_results larger than the collection, or than the
        chunks the filter leaves, with what it has)."""
        started = time.perf_counter()
        got = self.store.collection.query(
            query_embeddings=[vector], n_results=limit,
            where=None if doc_ids is None else {"doc_id": {"$in": sorted(doc_ids)}},
            include=["documents", "metadatas", "distances"],
        )
        timings.dense_ms = (time.perf_counter() - started) * 1000
        ids, texts, metas = got["ids"][0], got["documents"][0], got["metadatas"][0]
        similarity = {cid: 1.0 - float(d) for cid, d in zip(ids, got["distances"][0], strict=True)}
        return [
            Candidate(cid, str(m["doc_id"]), int(m["page"]), int(m["index"]), int(m["start"]),
                      int(m["end"]), text)
            for cid, text, m in zip(ids, texts, metas, strict=True)
        ], similarity

    def _similarities(self, vector: list[float], chunk_ids: set[str]) -> dict[str, float]:
        """Cosine similarity of chunks that dense search did not return (found by keywords)."""
        if not chunk_ids:
            return {}
        got = self.store.collection.get(ids=sorted(chunk_ids), include=["embeddings"])
        return {cid: float(sum(a * b for a, b in zip(vector, emb, strict=True)))
                for cid, emb in zip(got["ids"], got["embeddings"], strict=True)}

    def lexical(self, query: str, limit: int, timings: SearchTimings,
                doc_ids: Collection[str] | None = None) -> list[Candidate]:
        started = time.perf_counter()
        hits = self.registry.lexical_search(query, limit, doc_ids)
        timings.lexical_ms += (time.perf_counter() - started) * 1000
        return [h.chunk for h in hits]

    def named(self, query: str, timings: SearchTimings,
              doc_ids: Collection[str] | None = None,
              registry: Registry | None = None) -> dict[str, float]:
        """Documents the question names (company, paper), for the document boost; of those in
        ``doc_ids`` only, when given."""
        started = time.perf_counter()
        named = (registry or self.registry).named_documents(query)
        if doc_ids is not None:
            # Which words name a document is a fact of the library, so they are found over all
            # of it; only the boost is kept to the scope (a handful of documents, no top-N).
            named = {doc_id: score for doc_id, score in named.items() if doc_id in doc_ids}
        timings.documents_ms += (time.perf_counter() - started) * 1000
        return named

    def topics(self, query: str, timings: SearchTimings,
               doc_ids: Collection[str] | None = None,
               registry: Registry | None = None) -> list[str]:
        """Documents (of ``doc_ids`` only, when given) whose whole text matches the question
        best, best first."""
        started = time.perf_counter()
        ranked = (registry or self.registry).topical_documents(query, TOPICAL_DOCUMENTS, doc_ids)
        timings.documents_ms += (time.perf_counter() - started) * 1000
        return ranked

    def filings(self, query: str, named: dict[str, float], limit: int, timings: SearchTimings,
                doc_ids: Collection[str] | None = None) -> tuple[set[str], list[Candidate]]:
        """The filings that report on the period the question asks about (a fiscal year, a
        quarter, the latest), and the chunks of their pages that carry the statements it asks
        about.

        Among the documents the question names; where it names none (a library of one
        company's filings names none: every cover says the same), among ``doc_ids`` or the
        library. Statement pages are searched in the filings of the period, else in the named
        ones, and never over more than ``STATEMENT_DOCUMENTS`` filings.
        """
        period = asked_period(query)
        statements = asked_statements(query) if self.statement_weight > 0 else ()
        if not period and not statements:
            return set(), []
        started = time.perf_counter()
        among = set(named) if named else doc_ids
        covering = self.registry.covering(among, period) if period else set()
        focus = covering or set(named)
        chunks = self.registry.statement_chunks(query, statements, focus, limit) \
            if statements and 0 < len(focus) <= STATEMENT_DOCUMENTS else []
        timings.documents_ms += (time.perf_counter() - started) * 1000
        return (covering if self.period_weight > 0 else set()), chunks

    def fuse(self, query: str, dense: Sequence[Candidate], lexical: Sequence[Candidate],
             named: dict[str, float], topics: Sequence[str] = (),
             periods: Collection[str] = (), statements: Sequence[Candidate] = ()
             ) -> list[tuple[Candidate, float]]:
        """Every candidate with its fused score: dense, keyword and phrase rankings by RRF, plus
        the boost of the documents the question names and, ranked by RRF too, its document's
        place among the documents whose whole text matches the question best (``topics``).

        The topical prior helps where the passage alone cannot tell documents apart: filings
        that word a page alike but only one of which is about what the question asks (docugami
        hit@4 0.926 -> 0.959 at weight 0.5, covidqa 0.825 -> 0.827; docs/BENCHMARKS.md).

        Filings: those that report on the period the question asks about (``periods``) get
        one more first place's worth, and the chunks of their pages that carry the statements
        it asks about (``statements``) are one more ranking (financebench dev hit@4 0.444 ->
        0.691, docugami pages 0.435 -> 0.609; docs/BENCHMARKS.md)."""
        by_id = {c.chunk_id: c for c in [*statements, *lexical, *dense]}
        phrase = phrase_ranking(query, list(by_id.values())) if self.phrase_weight > 0 else []
        fused = reciprocal_rank_fusion(
            [[c.chunk_id for c in ranking] for ranking in (dense, lexical, phrase, statements)],
            [self.dense_weight, self.lexical_weight, self.phrase_weight, self.statement_weight],
            k=self.rrf_k,
        )
        boost = document_boost(named, self.document_weight, self.rrf_k)
        for doc_id in periods:
            boost[doc_id] = boost.get(doc_id, 0.0) + self.period_weight / (self.rrf_k + 1)
        prior = reciprocal_rank_fusion([topics], [self.topic_weight], k=self.rrf_k)
        return [(by_id[i], score + boost.get(by_id[i].doc_id, 0.0) + prior.get(by_id[i].doc_id, 0.0))
                for i, score in fused.items()]

    def unknown_terms(self, query: str, doc_ids: Collection[str] | None = None) -> list[str]:
        """Rare words of ``query`` that no indexed chunk contains.

        What the question asks about is not in the library, or not in the chosen documents.
        Everyday words of the embedding model's vocabulary ("summarise", "conclusion") are left
        out: a small library lacks many of them.

        Args:
            query: The user's question.
            doc_ids: Only chunks of these documents count (None: the whole library), so a word
                that only other documents use is unknown.

        Returns:
            The unknown words, in the order of the question.
        """
        rare = " ".join(w for w in re.findall(r"\w+", query) if not self.embedder.is_common_word(w))
        return self.registry.unknown_terms(rare, _scope(doc_ids)) if rare else []

    def search(self, query: str, k: int, doc_ids: Collection[str] | None = None) -> list[Hit]:
        """The ``k`` best passages for ``query`` (at most one per page), best first.

        Args:
            query: The question, as searched.
            k: How many passages at most.
            doc_ids: Search only chunks of these documents (None: the whole library). Every
                ranking is filtered, not only the result, so the scope's best passages are
                found however far down the library's ranking they are.

        Returns:
            The passages; none for an empty ``doc_ids``.
        """
        scope = _scope(doc_ids)
        if scope is not None and not scope:
            return []  # nothing chosen, nothing to search
        timings = SearchTimings()
        n = self.candidates
        started = time.perf_counter()
        vector = [float(x) for x in self.embedder.embed([query])[0]]
        timings.embed_ms = (time.perf_counter() - started) * 1000
        # Chroma's query and SQLite's both release the GIL: the dense search runs beside the
        # keyword ones (p95 of the two at 100k chunks, machine loaded: 40 -> 30 ms).
        dense_job = self._worker().submit(self.dense, vector, n, timings, scope) \
            if self.dense_weight > 0 else None
        side_job = None
        if self.document_weight > 0 or self.topic_weight > 0:
            worker, side_registry = self._side()
            side_job = worker.submit(self._documents_side, query, timings, scope, side_registry)
        lexical = self.lexical(query, n, timings, scope) if self.lexical_weight > 0 else []
        named, topics = side_job.result() if side_job is not None else ({}, [])
        periods, statements = self.filings(query, named, n, timings, scope)
        dense, similarity = dense_job.result() if dense_job is not None else ([], {})
        started = time.perf_counter()
        ranked = self.fuse(query, dense, lexical, named, topics, periods, statements)
        dense_rank = {c.chunk_id: i for i, c in enumerate(dense, start=1)}
        lexical_rank = {c.chunk_id: i for i, c in enumerate(lexical, start=1)}
        passages = merge_by_page(ranked)[:k]
        unseen = {i for p in passages for i in p.chunk_ids if i not in similarity}
        similarity.update(self._similarities(vector, unseen))
        names = self._documents({p.doc_id for p in passages})
        hits = []
        for p in passages:
            path, title = names.get(p.doc_id, ("", ""))
            first, last = p.segments[0], p.segments[-1]
            hits.append(Hit(
                p.doc_id, Path(path).name or title, path, title, p.page, first.start, last.end,
                p.text, p.score, p.chunk_ids,
                min((dense_rank[i] for i in p.chunk_ids if i in dense_rank), default=None),
                min((lexical_rank[i] for i in p.chunk_ids if i in lexical_rank), default=None),
                tuple((seg.start, seg.end) for seg in p.segments),
                max(similarity.get(i, 0.0) for i in p.chunk_ids),
            ))
        timings.fuse_ms = (time.perf_counter() - started) * 1000
        self.last_timings = timings
        log.debug("search k=%d embed_ms=%.1f dense_ms=%.1f lexical_ms=%.1f documents_ms=%.1f "
                  "fuse_ms=%.1f named=%s", k, timings.embed_ms, timings.dense_ms,
                  timings.lexical_ms, timings.documents_ms, timings.fuse_ms,
                  [doc_id[:8] for doc_id in named])
        return hits

    def _documents_side(self, query: str, timings: SearchTimings,
                        scope: frozenset[str] | None,
                        registry: Registry) -> tuple[dict[str, float], list[str]]:
        """The named and the topical documents, on ``registry`` (the side connection)."""
        named = self.named(query, timings, scope, registry) if self.document_weight > 0 else {}
        topics = self.topics(query, timings, scope, registry) if self.topic_weight > 0 else []
        return named, topics

    def _documents(self, doc_ids: set[str]) -> dict[str, tuple[str, str]]:
        found = {}
        for doc_id in doc_ids:
            doc = self.registry.document(doc_id)
            if doc is not None:
                found[doc_id] = (doc.paths[0] if doc.paths else "", doc.title)
        return found


def _scope(doc_ids: Collection[str] | None) -> frozenset[str] | None:
    """The scope as a set (a list or a generator may be passed), None staying the library."""
    return None if doc_ids is None else frozenset(doc_ids)
