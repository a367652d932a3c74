"""OCR results kept by what the page looks like, and which document page they belong to.

``results`` is keyed by the sha256 of the rendered page's pixels plus the resolution and the
languages: a re-index with other chunk settings, a renamed or copied file, or a document whose
scanned pages reappear in an edited copy, never OCRs a page again. ``pages`` maps (document,
page) to a result so the page viewer can find the word boxes of a page it shows. It is a cache:
deleting the file costs OCR time, nothing else; a crash mid-write loses at most that page.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from ingest.ocr import OcrPage, Word

_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    key TEXT PRIMARY KEY,
    text TEXT NOT NULL,
    words TEXT NOT NULL,
    confidence REAL NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS pages (
    doc_id TEXT NOT NULL,
    page INTEGER NOT NULL,
    key TEXT NOT NULL,
    PRIMARY KEY (doc_id, page)
);
"""


def page_key(image: Any, dpi: int, languages: str) -> str:
    """The cache key of a rendered page (PIL image): its pixels, resolution and languages."""
    digest = hashlib.sha256(f"{image.mode}:{image.size}:{dpi}:{languages}:".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()


class OcrCache:
    """One SQLite file; the parse worker writes it, the app reads word boxes from it."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def get(self, key: str) -> OcrPage | None:
        row = self._db.execute("SELECT text, words, confidence FROM results WHERE key=?",
                               (key,)).fetchone()
        if row is None:
            return None
        return OcrPage(row[0], tuple(tuple(w) for w in json.loads(row[1])), float(row[2]))

    def put(self, key: str, page: OcrPage) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO results(key, text, words, confidence, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (key, page.text, json.dumps([list(w) for w in page.words]), page.mean_confidence,
             time.time()))

    def set_page(self, doc_id: str, page: int, key: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO pages(doc_id, page, key) VALUES (?, ?, ?)",
                         (doc_id, page, key))

    def page_words(self, doc_id: str, page: int) -> list[Word]:
        """The OCR word boxes of page ``page`` (0-based) of a document; [] if it was not OCR'd."""
        row = self._db.execute(
            "SELECT r.words FROM pages p JOIN results r ON r.key = p.key "
            "WHERE p.doc_id=? AND p.page=?", (doc_id, page)).fetchone()
        return [tuple(w) for w in json.loads(row[0])] if row else []  # type: ignore[misc]


def page_words(cache_path: Path, pdf_path: Path, page: int) -> list[Word]:
    """The OCR word boxes of a page of the PDF at ``pdf_path`` (found by its content hash, as the
    registry keys documents); [] when there is no cache, no such page, or it had a text layer."""
    if not cache_path.is_file():
        return []
    doc_id = hashlib.sha256(pdf_path.read_bytes()).hexdigest()
    cache = OcrCache(cache_path)
    try:
        return cache.page_words(doc_id, page)
    finally:
        cache.close()
