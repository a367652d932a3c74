"""Terminal rendering of ingest progress: a live line on a TTY, one line per file otherwise."""

from __future__ import annotations

import sys
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


class TerminalProgress:
    """Files done, pages/s, chunks/s and an ETA from the bytes still to process."""

    def __init__(self, stream: TextIO | None = None, live: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.files = self.total_bytes = 0
        self.done_files = self.done_bytes = self.pages = self.chunks = 0
        self.started = time.monotonic()
        self.current = ""

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

    def done(self, result: FileResult) -> None:
        if self.files == 0:  # skipped before start(): unchanged files are summarised at the end
            return
        self.done_files += 1
        self.done_bytes += result.size
        if not self.live and result.outcome in (INDEXED_OUTCOME, FAILED_OUTCOME):
            detail = result.reason if result.failed else f"{result.pages} pages, {result.chunks} chunks"
            print(f"[{self.done_files}/{self.files}] {result.outcome} {result.path}: {detail}",
                  file=self.stream, flush=True)
        self._render()

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        text = (f"[{self.done_files}/{self.files} files] {self.pages / elapsed:.1f} pages/s "
                f"{self.chunks / elapsed:.1f} chunks/s")
        if 0 < self.done_bytes < self.total_bytes:
            eta = (self.total_bytes - self.done_bytes) * elapsed / self.done_bytes
            text += f" ETA {_duration(eta)}"
        if self.current and self.done_files < self.files:
            text += f"  {self.current[:40]}"
        return text

    def _render(self) -> None:
        if self.live:
            self.stream.write("\r\x1b[K" + self.line())
            self.stream.flush()

    def finish(self) -> None:
        if self.live and self.files:
            self.stream.write("\r\x1b[K" + self.line() + "\n")
            self.stream.flush()
