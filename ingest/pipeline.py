"""Files in, indexed documents out: incremental, content-addressed and crash-safe.

Order of writes for a new document (what makes a SIGKILL at any point repairable):
registry row ``indexing`` -> vectors (deterministic ids) -> registry ``indexed`` + path, in one
transaction. ``repair`` deletes the vectors of anything still ``indexing`` or ``removing``.
Parsing runs in a producer thread so pypdf (pure Python, in its worker process) overlaps with
embedding (torch releases the GIL); the main thread owns every write.

Over 400 lines because the write order above, the repair that relies on it and the clean-close
record that lets a writer skip counting the store are one crash-safety argument, kept together.
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ingest.chunking import CONTEXT_RECIPE, document_context, document_opening, indexed_text
from ingest.discovery import discover, os_reason, read_stable
from ingest.embed import Embedder
from ingest.errors import DocumentNotFound, LocalragError
from ingest.filings import read_document
from ingest.lexical import LexicalRow, StoredChunk
from ingest.models import Chunk
from ingest.ocr import OcrOptions
from ingest.parsing import ParseWorker
from ingest.registry import FAILED, INDEXED, Document, PathEntry, Registry
from ingest.results import (
    DUPLICATE,
    FAILED_OUTCOME,
    INDEXED_OUTCOME,
    RENAMED,
    UNCHANGED,
    FileResult,
    NullProgress,
    Progress,
    RepairReport,
)
from ingest.store import VectorStore, chunk_id

log = logging.getLogger(__name__)

# Parsed documents waiting for the embedder: bounds memory while keeping the embedder fed.
_QUEUE_DEPTH = 3


# -- per-file preparation (runs in the producer thread; no registry or store writes) -----------
@dataclass(frozen=True)
class _Prepared:
    entry: PathEntry | None
    title: str = ""
    page_count: int = 0
    chunks: tuple[Chunk, ...] = ()
    empty_pages: tuple[int, ...] = ()
    problems: tuple[str, ...] = ()
    ocr_pages: dict[int, float] | None = None  # OCR'd page -> mean word confidence (0-100)
    error: str | None = None
    known: bool = False
    known_failure: bool = False


# Registry meta: the indexed chunk total a writer closed with ("" while one is open).
CLOSED_CLEAN = "closed_clean_chunks"


class Ingestor:
    """Owns the writes to one registry and one vector store. Use under a ``WriterLock``."""

    def __init__(
        self,
        registry: Registry,
        store: VectorStore,
        embedder: Embedder,
        chunk_size: int,
        chunk_overlap: int,
        embed_batch_size: int = 16,
        parse_in_process: bool = True,
        embed_context: bool = False,
        ocr: OcrOptions | None = None,
    ) -> None:
        self.registry = registry
        self.store = store
        self.embedder = embedder
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap
        self.embed_batch_size = embed_batch_size
        self.embed_context = embed_context
        self.parser = ParseWorker(chunk_size, chunk_overlap, parse_in_process, ocr)
        if registry.meta("context_recipe") is None and not registry.documents(INDEXED):
            registry.set_meta("context_recipe", CONTEXT_RECIPE)  # a new index: current recipe
            if not registry.term_counts_current():
                registry.rebuild_term_counts()  # nothing to count yet: kept from the start
        # Cleared while this writer is open, written back by close(): a killed writer leaves it
        # cleared, so the next one counts the store again.
        self._closed_clean_total = registry.meta(CLOSED_CLEAN)
        registry.set_meta(CLOSED_CLEAN, "")

    def close(self) -> None:
        self.parser.close()
        # Every write keeps registry and store in step (a half-done one stays marked indexing
        # or removing): what agreed at open agrees now.
        self.registry.set_meta(CLOSED_CLEAN, str(self.registry.indexed_chunk_total()))

    # -- repair --------------------------------------------------------------------------------
    def repair(self) -> RepairReport:
        """Finish what a killed writer left: half-indexed or half-removed documents, orphans."""
        report = RepairReport()
        for doc in self.registry.pending_repairs():
            log.warning("repair: removing incomplete document doc_id=%s status=%s",
                        doc.doc_id, doc.status)
            self.registry.mark_removing(doc.doc_id)
            self.store.delete_document(doc.doc_id)
            self.registry.delete_document(doc.doc_id)
            report.removed_incomplete.append(doc.title or doc.doc_id)
        expected = self.registry.indexed_chunk_total()
        # The last writer closed cleanly with this many chunks and nothing was left half-done:
        # the counts agree without asking the store (its count takes 6 s at a million chunks).
        trusted = self._closed_clean_total == str(expected) and not report.removed_incomplete
        if not trusted and self.store.count() != expected:
            self._reconcile_vectors(report)
        self._reconcile_lexical(report, trusted)
        if not self.registry.term_counts_current():
            # An index from before the counts (or written by a version without them): one pass
            # over the keyword indexes (26 s at a million chunks).
            log.info("repair: counting the keyword indexes' words")
            self.registry.rebuild_term_counts()
            report.counted_terms = True
        return report

    def _reconcile_lexical(self, report: RepairReport, trusted: bool = False) -> None:
        """Rebuild lexical rows of indexed documents that lack them (an index from before the
        lexical side existed, or a registry restored from a copy) or that were built with an
        older document-context recipe, from the stored chunks. ``trusted``: the last writer
        closed cleanly, so only the recipe and the document-level rows are checked."""
        stale_recipe = self.registry.meta("context_recipe") != CONTEXT_RECIPE
        without_terms = self.registry.documents_without_terms()
        if trusted and not stale_recipe and not without_terms:
            return
        counts = {} if trusted else self.registry.lexical_counts()
        for doc in self.registry.documents(INDEXED):
            if (trusted or counts.get(doc.doc_id, 0) == doc.chunks) and not stale_recipe \
                    and doc.doc_id not in without_terms:
                continue
            chunks = self._stored_chunks(doc)
            context = document_context(doc.title, doc.name, document_opening(chunks))
            read = read_document(chunks, doc.name)
            self.registry.replace_lexical(doc.doc_id, _lexical_rows(doc.doc_id, context, chunks,
                                                                    read.page_context),
                                          read.facts)
            report.rebuilt_lexical.append(doc.name)
        if stale_recipe:
            self.registry.set_meta("context_recipe", CONTEXT_RECIPE)
            report.new_context = bool(report.rebuilt_lexical)
        if stale_recipe and report.rebuilt_lexical:
            self.registry.optimize_lexical()  # every row was rewritten

    def _stored_chunks(self, doc: Document) -> list[Chunk]:
        """A document's chunks, from its keyword rows when they are all there (a new context
        recipe: 1 ms a document), else from the vector store (0.11 s a document at 1M chunks)."""
        stored = self.registry.document_chunks(doc.doc_id)
        if len(stored) == doc.chunks:
            return [Chunk(c.page, c.index, c.start, c.end, c.text) for c in stored]
        got = self.store.collection.get(where={"doc_id": doc.doc_id},
                                        include=["documents", "metadatas"])
        return [Chunk(int(m["page"]), int(m["index"]), int(m["start"]), int(m["end"]), text)
                for text, m in zip(got["documents"], got["metadatas"], strict=True)]

    def _reconcile_vectors(self, report: RepairReport) -> None:
        stored = self.store.doc_chunk_counts()
        indexed = {d.doc_id: d for d in self.registry.documents(INDEXED)}
        for doc_id, count in stored.items():
            if doc_id not in indexed:
                self.store.delete_document(doc_id)
                report.removed_orphan_chunks += count
        for doc_id, doc in indexed.items():
            if stored.get(doc_id, 0) != doc.chunks:
                # Vectors lost (for example a store restored from an older copy): drop the record
                # so the next ingest of its file indexes it again instead of trusting it.
                log.warning("repair: vectors missing doc_id=%s expected=%d found=%d",
                            doc_id, doc.chunks, stored.get(doc_id, 0))
                self.registry.mark_removing(doc_id)
                self.store.delete_document(doc_id)
                self.registry.delete_document(doc_id)
                report.dropped_damaged.append(doc.name)

    # -- ingest --------------------------------------------------------------------------------
    def ingest(
        self,
        paths: Iterable[Path],
        progress: Progress | None = None,
        retry_failed: bool = False,
    ) -> list[FileResult]:
        """Index files and folders; return one result per file, in discovery order."""
        progress = progress or NullProgress()
        files, results, skipped = discover(paths)
        if skipped:
            log.info("skipped non-PDF files count=%d", skipped)
        todo: list[tuple[Path, os.stat_result]] = []
        for path in files:
            quick = self._quick_check(path, retry_failed)
            if isinstance(quick, FileResult):
                results.append(quick)
                progress.done(quick)
            else:
                todo.append((path, quick))
        progress.start(len(todo), sum(st.st_size for _, st in todo))
        indexed_ids = {d.doc_id for d in self.registry.documents(INDEXED)}
        failed_ids = {d.doc_id: d.error for d in self.registry.documents(FAILED)}
        for path, prepared in self._prepared(todo, indexed_ids, failed_ids, retry_failed,
                                             progress):
            result = self._commit(path, prepared, progress)
            results.append(result)
            progress.done(result)
        return results

    def _quick_check(self, path: Path, retry_failed: bool) -> FileResult | os.stat_result:
        """Unchanged size and mtime of a known path: no read, no parse, no embedding."""
        try:
            st = path.stat()
        except OSError as err:
            return FileResult(str(path), FAILED_OUTCOME, reason=os_reason(err))
        entry = self.registry.path_entry(str(path))
        if entry is None or (entry.size, entry.mtime_ns) != (st.st_size, st.st_mtime_ns):
            return st
        doc = self.registry.document(entry.doc_id)
        if doc is None:
            return st
        if doc.status == INDEXED:
            return _doc_result(str(path), UNCHANGED, doc)
        if doc.status == FAILED and not retry_failed:
            return FileResult(str(path), FAILED_OUTCOME, doc.doc_id, size=st.st_size,
                              reason=f"{doc.error} (unchanged; --retry-failed to try again)")
        return st

    def _prepared(
        self,
        todo: list[tuple[Path, os.stat_result]],
        indexed_ids: set[str],
        failed_ids: dict[str, str | None],
        retry_failed: bool,
        progress: Progress,
    ) -> Iterator[tuple[Path, _Prepared]]:
        """Read, hash and parse files in a producer thread, yielding them in order."""
        out: queue.Queue[tuple[Path, _Prepared] | None] = queue.Queue(maxsize=_QUEUE_DEPTH)
        stop = threading.Event()
        seen = set(indexed_ids)

        def produce() -> None:
            try:
                for path, _ in todo:
                    if stop.is_set():
                        return
                    out.put((path, self._prepare(path, seen, failed_ids, retry_failed,
                                                 progress)))
            finally:
                out.put(None)

        worker = threading.Thread(target=produce, name="localrag-parse", daemon=True)
        worker.start()
        try:
            while (item := out.get()) is not None:
                yield item
        finally:
            stop.set()
            while worker.is_alive():
                try:
                    out.get(timeout=0.1)
                except queue.Empty:
                    pass

    def _prepare(self, path: Path, seen: set[str], failed_ids: dict[str, str | None],
                 retry_failed: bool, progress: Progress) -> _Prepared:
        try:
            data, st = read_stable(path)
        except OSError as err:
            return _Prepared(None, error=os_reason(err))
        except LocalragError as err:
            return _Prepared(None, error=str(err))
        doc_id = hashlib.sha256(data).hexdigest()
        entry = PathEntry(str(path), doc_id, st.st_size, st.st_mtime_ns)
        if doc_id in seen:
            return _Prepared(entry, known=True)
        if doc_id in failed_ids and not retry_failed:
            return _Prepared(entry, error=f"{failed_ids[doc_id]} (unchanged content)",
                             known_failure=True)
        seen.add(doc_id)
        try:
            title, pages, chunks, empty, problems, ocr_pages = self.parser.parse(
                data, path.stem, lambda done, total: progress.ocr(str(path), done, total))
        except LocalragError as err:
            return _Prepared(entry, error=str(err))
        except Exception as err:  # a parser bug on one file must not stop the others
            log.exception("unexpected error parsing path=%s", path)
            return _Prepared(entry, error=f"could not read: {type(err).__name__}: {err}")
        return _Prepared(entry, title, pages, tuple(chunks), tuple(empty), tuple(problems),
                         ocr_pages)

    # -- writes (main thread) ------------------------------------------------------------------
    def _commit(self, path: Path, prep: _Prepared, progress: Progress) -> FileResult:
        entry = prep.entry
        if entry is None:
            return FileResult(str(path), FAILED_OUTCOME, reason=prep.error)
        previous = self.registry.path_entry(entry.path)
        if prep.known:
            result = self._attach_known(entry, previous)
        elif prep.known_failure:
            # Same bytes as a recorded failure (a touched or re-copied bad file): point the path at
            # it with its new mtime, so the next run skips it unread; its recorded reason stays.
            self.registry.attach_path(entry)
            result = FileResult(entry.path, FAILED_OUTCOME, entry.doc_id, size=entry.size,
                                reason=prep.error)
        elif prep.error is not None:
            self.registry.finish_document(
                entry.doc_id, status=FAILED, chunks=0, pages=prep.page_count, empty_pages=0,
                problems=[], error=prep.error, path=entry, title=path.stem,
            )
            result = FileResult(entry.path, FAILED_OUTCOME, entry.doc_id, size=entry.size,
                                reason=prep.error)
        else:
            progress.parsed(entry.path, prep.page_count)
            self._write_vectors(entry, prep, progress)
            result = FileResult(
                entry.path, INDEXED_OUTCOME, entry.doc_id, prep.page_count, len(prep.chunks),
                len(prep.empty_pages), prep.problems, size=entry.size,
            )
        if previous is not None and previous.doc_id != entry.doc_id:
            self.drop_if_unreferenced(previous.doc_id)
        return result

    def _attach_known(self, entry: PathEntry, previous: PathEntry | None) -> FileResult:
        doc = self.registry.document(entry.doc_id)
        if doc is None or doc.status != INDEXED:
            # Same content as a file that failed earlier in this run: it fails the same way.
            reason = doc.error if doc is not None else "could not be indexed"
            if doc is not None:
                self.registry.attach_path(entry)
            return FileResult(entry.path, FAILED_OUTCOME, entry.doc_id, size=entry.size,
                              reason=reason)
        others = [p for p in doc.paths if p != entry.path]
        gone = [p for p in others if not os.path.exists(p)]
        self.registry.attach_path(entry)
        for stale in gone:
            self.registry.detach_path(stale)
        doc = self.registry.document(entry.doc_id) or doc
        if previous is not None and previous.doc_id == entry.doc_id:
            return _doc_result(entry.path, UNCHANGED, doc)
        if gone:
            return _doc_result(entry.path, RENAMED, doc, reason=f"was {gone[0]}")
        if others:
            return _doc_result(entry.path, DUPLICATE, doc,
                               reason=f"same content as {others[0]}: not embedded again")
        return _doc_result(entry.path, UNCHANGED, doc)

    def _write_vectors(self, entry: PathEntry, prep: _Prepared, progress: Progress) -> None:
        doc_id = entry.doc_id
        context = document_context(prep.title, Path(entry.path).name,
                                   document_opening(prep.chunks))
        read = read_document(prep.chunks, Path(entry.path).name)
        self.registry.begin_document(doc_id, prep.title, entry.size, prep.page_count)
        chunks = prep.chunks
        step = max(self.embed_batch_size * 4, 1)
        for start in range(0, len(chunks), step):
            batch = chunks[start : start + step]
            # The opening is for keywords only: in front of a 256-token embedding it would crowd
            # out the chunk.
            embed_prefix = document_context(prep.title, Path(entry.path).name) \
                if self.embed_context else ""
            vectors = self.embedder.embed([indexed_text(embed_prefix, c.text) for c in batch])
            self.store.add(
                [chunk_id(doc_id, c.index) for c in batch],
                vectors,
                [c.text for c in batch],
                [_metadata(doc_id, c, prep.ocr_pages) for c in batch],
            )
            progress.embedded(len(batch))
        self.registry.finish_document(
            doc_id, status=INDEXED, chunks=len(chunks), pages=prep.page_count,
            empty_pages=len(prep.empty_pages), problems=list(prep.problems), error=None,
            path=entry, title=prep.title,
            lexical_rows=_lexical_rows(doc_id, context, chunks, read.page_context),
            facts=read.facts,
        )

    def drop_if_unreferenced(self, doc_id: str) -> None:
        doc = self.registry.document(doc_id)
        if doc is not None and not doc.paths:
            log.info("dropping replaced content doc_id=%s", doc_id)
            self._delete(doc)

    def _delete(self, doc: Document) -> None:
        self.registry.mark_removing(doc.doc_id)
        self.store.delete_document(doc.doc_id, doc.chunks if doc.status == INDEXED else None)
        self.registry.delete_document(doc.doc_id)

    # -- remove --------------------------------------------------------------------------------
    def remove(self, ref: str) -> Document:
        """Delete one document (by path, file name or id) and every one of its chunks."""
        candidates = self.registry.find(os.path.abspath(ref)) or self.registry.find(ref)
        if not candidates:
            raise DocumentNotFound(f"no indexed document matches {ref!r}: see `localrag docs`")
        if len(candidates) > 1:
            ids = ", ".join(d.doc_id[:12] for d in candidates)
            raise DocumentNotFound(f"{ref!r} matches {len(candidates)} documents ({ids}): "
                                   "give the full path or an id")
        doc = candidates[0]
        self._delete(doc)
        return doc


def _lexical_rows(doc_id: str, context: str, chunks: Iterable[Chunk],
                  page_context: dict[int, str] | None = None) -> list[LexicalRow]:
    """Keyword rows: each chunk with its document's context and, on the next line, its page's
    (the document part alone is the document's identity: ``lexical.identity``)."""
    page_context = page_context or {}
    return [LexicalRow(StoredChunk(chunk_id(doc_id, c.index), doc_id, c.page, c.index,
                                   c.char_start, c.char_end, c.text),
                       f"{context}\n{page_context[c.page]}" if page_context.get(c.page)
                       else context) for c in chunks]


def _metadata(doc_id: str, chunk: Chunk, ocr_pages: dict[int, float] | None = None
              ) -> dict[str, int | str | float]:
    """A chunk's metadata; a chunk of a page read by OCR carries that page's mean confidence."""
    meta: dict[str, int | str | float] = {"doc_id": doc_id, "page": chunk.page,
                                          "index": chunk.index, "start": chunk.char_start,
                                          "end": chunk.char_end}
    if ocr_pages and chunk.page in ocr_pages:
        meta["ocr_confidence"] = round(ocr_pages[chunk.page], 1)
    return meta


def _doc_result(path: str, outcome: str, doc: Document, reason: str | None = None) -> FileResult:
    return FileResult(path, outcome, doc.doc_id, doc.pages, doc.chunks, doc.empty_pages,
                      doc.problems, reason=reason, size=doc.size)


