"""Terminal rendering of ingest progress: a live line on a TTY, one line per file otherwise."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

from ingest.results import FAILED_OUTCOME, INDEXED_OUTCOME, FileResult


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


# Without a terminal, a long OCR says how far it got this often (a 300-page scan takes minutes).
LOG_EVERY_S = 30.0


class OcrPace:
    """Pages OCR'd in one document, their rate and the time left ("OCR 12/40 pages, 0.4
    pages/s, ~1m10s left"), from the pages read since its OCR started."""

    def __init__(self, name: str, total: int, now: float) -> None:
        self.name, self.total, self.done, self.started, self.at = name, total, 0, now, now
        self.printed = now  # when a log line (no terminal) last said how far it got

    def update(self, done: int, now: float) -> None:
        self.done, self.at = done, now

    def text(self) -> str:
        line = f"OCR {self.done}/{self.total} pages"
        seconds = self.at - self.started
        if self.done and seconds > 0:
            rate = self.done / seconds
            line += f", {rate:.2g} pages/s"
            if self.done < self.total:
                line += f", ~{_duration((self.total - self.done) / rate)} left"
        return line


class TerminalProgress:
    """Files done, pages/s, chunks/s and an ETA from the bytes still to process; while a
    document's scanned pages are read, its OCR pages, their rate and the time left."""

    def __init__(self, stream: TextIO | None = None, live: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.files = self.total_bytes = 0
        self.done_files = self.done_bytes = self.pages = self.chunks = 0
        self.started = time.monotonic()
        self.current = ""
        self.ocr_pace: OcrPace | None = None
        # ocr() comes from the parse thread, the rest from the writer: one line at a time.
        self._lock = threading.Lock()

    def start(self, files: int, total_bytes: int) -> None:
        self.files, self.total_bytes = files, total_bytes
        self.started = time.monotonic()
        if files:
            self._render()

    def parsed(self, path: str, pages: int) -> None:
        self.current = path.rsplit("/", 1)[-1]
        self.pages += pages
        self._render()

    def embedded(self, chunks: int) -> None:
        self.chunks += chunks
        self._render()

    def ocr(self, path: str, done: int, total: int) -> None:
        now = time.monotonic()
        name = path.rsplit("/", 1)[-1]
        with self._lock:
            if done == 0 or self.ocr_pace is None or self.ocr_pace.name != name:
                self.ocr_pace = OcrPace(name, total, now)
            self.ocr_pace.update(done, now)
            pace = self.ocr_pace
        if not self.live and done and (done == total or now - pace.printed >= LOG_EVERY_S):
            pace.printed = now
            self._print(f"OCR {name}: {pace.text()} after {_duration(now - pace.started)}")
        if done == total and done:
            with self._lock:
                self.ocr_pace = None
        self._render()

    def _print(self, text: str) -> None:
        with self._lock:
            print(text, file=self.stream, flush=True)

    def done(self, result: FileResult) -> None:
        if self.files == 0:  # skipped before start(): unchanged files are summarised at the end
            return
        self.done_files += 1
        self.done_bytes += result.size
        if not self.live and result.outcome in (INDEXED_OUTCOME, FAILED_OUTCOME):
            detail = result.reason if result.failed else f"{result.pages} pages, {result.chunks} chunks"
            self._print(f"[{self.done_files}/{self.files}] {result.outcome} {result.path}: "
                        f"{detail}")
        self._render()

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        text = (f"[{self.done_files}/{self.files} files] {self.pages / elapsed:.1f} pages/s "
                f"{self.chunks / elapsed:.1f} chunks/s")
        if 0 < self.done_bytes < self.total_bytes:
            eta = (self.total_bytes - self.done_bytes) * elapsed / self.done_bytes
            text += f" ETA {_duration(eta)}"
        pace = self.ocr_pace
        if pace is not None:
            text += f"  {pace.text()}  {pace.name[:40]}"
        elif self.current and self.done_files < self.files:
            text += f"  {self.current[:40]}"
        return text

    def _render(self) -> None:
        if self.live:
            with self._lock:
                self.stream.write("\r\x1b[K" + self.line())
                self.stream.flush()

    def finish(self) -> None:
        if self.live and self.files:
            with self._lock:
                self.stream.write("\r\x1b[K" + self.line() + "\n")
                self.stream.flush()
