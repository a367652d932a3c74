"""What the browser app computes for a large library, without Gradio: a real registry holding
``--documents`` documents (and 1 % failed files), and a real chat store holding ``--chats``
saved chats of 10 answers each.

Timed (median and p95 of ``--repeat`` runs, ms):
- the Library tab's refresh as the tab does it: the counts by status, one page of the indexed and
  of the failed documents read in SQL (``Registry.documents_page``), the rows, the count line;
  and a search by name; beside them, for comparison in the same run, the same page cut in
  Python from every row (``library_reference.document_page``, what the tab did before);
- the scope picker's choices (nothing typed, a name typed) and resolving a folder pick;
- the saved chats list and reopening a chat.
The rows sent to the browser are one page (50) whatever the library's size; the bench prints
how many.

Usage (from the repository root; under a minute):
    .venv/bin/python tests/bench/bench_library_ui.py --documents 10000 --chats 1000
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from library_reference import document_page  # noqa: E402

from app.owner.scope import scope_doc_ids  # noqa: E402
from app.ui.chats import ChatStore, Turn  # noqa: E402
from app.ui.render import (  # noqa: E402
    LIBRARY_PER_PAGE,
    count_line,
    documents_rows,
    failed_rows,
)
from app.ui.scope_picker import scope_choices  # noqa: E402
from ingest.registry import FAILED, INDEXED, PathEntry, Registry  # noqa: E402


def fill_registry(registry: Registry, documents: int) -> None:
    for i in range(documents):
        doc_id = f"{i:064x}"
        failed = i % 100 == 99
        registry.begin_document(doc_id, f"Annual report {i}", 1000 + i, 12)
        registry.finish_document(
            doc_id, status=FAILED if failed else INDEXED, chunks=0 if failed else 100, pages=12,
            empty_pages=0, problems=[], error="truncated PDF" if failed else None,
            path=PathEntry(f"/library/folder-{i % 20}/report-{i}.pdf", doc_id, 1000 + i, 0),
            title=f"Annual report {i}")


def fill_chats(store: ChatStore, chats: int) -> str:
    sources = [{"number": n, "file": f"report-{n}.pdf", "title": "", "path": f"/r/{n}.pdf",
                "page": n, "text": "passage text " * 60, "marks": []} for n in range(1, 5)]
    chat_id = ""
    for i in range(chats):
        chat_id = store.create(f"Question {i} about the annual reports")
        for j in range(10):
            store.add_turn(chat_id, Turn(f"question {j}", "answer [1] " * 40, "shown " * 80,
                                         "<div>card</div>" * 40, sources, plain="answer " * 40))
    return chat_id


def timed(action: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = action()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.95))], result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=10_000)
    parser.add_argument("--chats", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        registry = Registry(Path(tmp) / "registry.sqlite3")
        fill_registry(registry, args.documents)
        store = ChatStore(Path(tmp) / "chats.sqlite3")
        last_chat = fill_chats(store, args.chats)
        docs = registry.documents(INDEXED)

        def refresh(query: str) -> int:
            """What ``LibraryPage.view`` reads and renders: one page of each status."""
            counts = registry.status_counts()
            shown = registry.documents_page(INDEXED, query, 0, LIBRARY_PER_PAGE)
            failed = registry.documents_page(FAILED, query, 0, LIBRARY_PER_PAGE)
            count_line(counts.get(INDEXED, 0), counts.get(FAILED, 0),
                       registry.indexed_chunk_total())
            failed_rows(failed.documents)
            return len(documents_rows(shown.documents))

        def refresh_in_python(query: str) -> int:
            """The tab before its page came from SQL: every row read, the page cut in Python."""
            indexed = list(reversed(registry.documents(INDEXED)))
            failed = list(reversed(registry.documents(FAILED)))
            shown = document_page(indexed, query, 0)
            failed_rows(document_page(failed, query, 0).documents)
            count_line(len(indexed), len(failed), registry.indexed_chunk_total())
            return len(documents_rows(shown.documents))

        cases = [
            ("Library refresh (rows sent)", lambda: refresh("")),
            ("Library search by name (rows sent)", lambda: refresh("report-77")),
            ("  the same, every row in Python (before)", lambda: refresh_in_python("")),
            ("  search, every row in Python (before)", lambda: refresh_in_python("report-77")),
            ("scope choices, nothing typed (choices)", lambda: len(scope_choices(docs, "", []))),
            ("scope choices, a name typed (choices)",
             lambda: len(scope_choices(docs, "report 123", []))),
            ("scope: a folder pick (documents)",
             lambda: len(scope_doc_ids(docs, ["folder:/library/folder-3"]))),
            ("saved chats list (chats listed)", lambda: len(store.recent())),
            ("reopen a chat of 10 answers (turns)", lambda: len(store.get(last_chat).turns)),
        ]
        print(f"{args.documents:,} documents, {args.chats:,} saved chats; load "
              f"{os.getloadavg()[0]:.2f}; median / p95 of {args.repeat} runs")
        for name, action in cases:
            median, p95, result = timed(action, args.repeat)
            print(f"  {name:<42} {median:8.1f} ms {p95:8.1f} ms   {result}")
        registry.close()


if __name__ == "__main__":
    main()
