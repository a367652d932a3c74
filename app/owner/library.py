"""The index as a long-running process (``serve``, ``watch``) owns it.

The owner holds the writer lock for its whole life, so no other process writes while it runs
(two Chroma writers corrupt the index silently). Inside the process, one Chroma client serves
both the writes (uploads, the watcher, deletes; one at a time) and the reads (chat), so a
document is searchable the moment its write commits, without re-creating any client.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Collection, Iterable, Sequence
from pathlib import Path
from typing import Any

from app.components import open_embedder, open_ingestor, open_registry, retriever_over
from app.retrieval import Hit
from ingest.embed import Embedder
from ingest.lock import WriterLock
from ingest.registry import INDEXED, Document, DocumentPage
from ingest.results import FileResult, NullProgress, Progress, RepairReport, plain_outcome
from ingest.settings import Settings

log = logging.getLogger(__name__)
ACTIVITY_LINES = 200
KNOWN_FAILURE_SUFFIX = "(unchanged content)"


class Library:
    """Owner of one data directory's index: serialised writes, concurrent reads."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None,
                 lock_timeout_s: float = 0.0) -> None:
        self.settings = settings
        self.embedder = embedder or open_embedder(settings)
        self._owner = WriterLock(settings.lock_path, timeout_s=lock_timeout_s)
        self._owner.acquire()
        try:
            self._ingestor = open_ingestor(settings, self.embedder)
            self.repair_report: RepairReport = self._ingestor.repair()
        except BaseException:
            self._owner.release()
            raise
        self._write = threading.Lock()
        self._registry = open_registry(settings)  # the readers' own connection
        self.retriever = retriever_over(settings, self._ingestor.store, self._registry,
                                        self.embedder)
        self.activity: deque[str] = deque(maxlen=ACTIVITY_LINES)
        self._listeners: list[Callable[[str], None]] = []
        self.version = 0  # bumped after every write: views compare it to refresh themselves

    def close(self) -> None:
        with self._write:
            self._ingestor.close()
            self._registry.close()
            self._owner.release()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- activity ------------------------------------------------------------------------------
    def on_activity(self, listener: Callable[[str], None]) -> None:
        self._listeners.append(listener)

    def note(self, message: str) -> None:
        log.info("%s", message)
        self.activity.append(message)
        for listener in self._listeners:
            listener(message)

    def _noted(self, results: Sequence[FileResult], source: str) -> None:
        for r in results:
            if r.failed and (r.reason or "").endswith(KNOWN_FAILURE_SUFFIX):
                log.debug("%s: %s already reported", source, r.path)  # same bad bytes: said once
                continue
            self.note(f"{source}: {Path(r.path).name}: {plain_outcome(r)}")

    # -- writes (one at a time) ----------------------------------------------------------------
    def ingest(self, paths: Iterable[Path], progress: Progress | None = None,
               retry_failed: bool = False, source: str = "ingest") -> list[FileResult]:
        with self._write:
            results = self._ingestor.ingest(list(paths), progress=progress or NullProgress(),
                                            retry_failed=retry_failed)
            self.version += 1
        self._noted(results, source)
        return results

    def remove(self, ref: str, source: str = "remove") -> Document:
        with self._write:
            doc = self._ingestor.remove(ref)
            self.version += 1
        self.note(f"{source}: removed {doc.name}")
        return doc

    def forget_paths(self, paths: Iterable[str], source: str = "watch") -> list[str]:
        """Paths that no longer exist: detach them; a document left with no path is deleted."""
        gone = []
        with self._write:
            for path in paths:
                entry = self._ingestor.registry.path_entry(path)
                if entry is None:
                    continue
                self._ingestor.registry.detach_path(path)
                self._ingestor.drop_if_unreferenced(entry.doc_id)
                gone.append(path)
            if gone:
                self.version += 1
        for path in gone:
            self.note(f"{source}: removed {Path(path).name} (file deleted)")
        return gone

    def run_exclusive(self, action: Callable[[Any], Any]) -> Any:
        """Run ``action(ingestor)`` with writes held (a re-index, for example)."""
        with self._write:
            try:
                return action(self._ingestor)
            finally:
                self.version += 1

    # -- reads ---------------------------------------------------------------------------------
    def search(self, query: str, k: int, doc_ids: Collection[str] | None = None) -> list[Hit]:
        """The ``k`` best passages for ``query``, of the documents ``doc_ids`` only when given
        (see ``Retriever.search``; an empty scope finds nothing)."""
        return self.retriever.search(query, k, doc_ids)

    def unknown_terms(self, query: str, doc_ids: Collection[str] | None = None) -> list[str]:
        """Rare words of ``query`` that no chunk (of ``doc_ids``, when given) contains."""
        return self.retriever.unknown_terms(query, doc_ids)

    def documents(self, status: str | None = None) -> list[Document]:
        """Every document, or those with one status (``indexed``, ``failed``), oldest first."""
        return self._registry.documents(status)

    def documents_page(self, status: str, query: str, page: int, per_page: int) -> DocumentPage:
        """One page of the documents with ``status``, newest first, whose title or file name
        contains ``query`` (any case); see ``Registry.documents_page``."""
        return self._registry.documents_page(status, query, page, per_page)

    def document(self, doc_id: str) -> Document | None:
        return self._registry.document(doc_id)

    def status_counts(self) -> dict[str, int]:
        """How many documents have each status, without reading them."""
        return self._registry.status_counts()

    def document_count(self) -> int:
        """Indexed documents only: a file that could not be read is not a document to search."""
        return self._registry.status_counts().get(INDEXED, 0)

    def chunk_total(self) -> int:
        return self._registry.indexed_chunk_total()

    def paths(self) -> list[str]:
        return self._registry.all_paths()
