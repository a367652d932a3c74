"""One writer per data directory: two Chroma writers silently corrupt its vector index."""

from __future__ import annotations

import fcntl
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from ingest.errors import IndexLocked

log = logging.getLogger(__name__)


class WriterLock:
    """An exclusive ``flock`` on ``data/writer.lock``; the kernel releases it if the holder dies."""

    def __init__(self, path: Path, timeout_s: float = 0.0,
                 on_wait: Callable[[str], None] | None = None) -> None:
        self.path = path
        self.timeout_s = timeout_s
        self.on_wait = on_wait
        self._fd: int | None = None

    def holder(self) -> str:
        try:
            return self.path.read_text().strip() or "unknown"
        except OSError:
            return "unknown"

    def acquire(self, stop_waiting: Callable[[], bool] | None = None) -> bool:
        """Take the lock, waiting up to ``timeout_s``; True once held.

        ``stop_waiting`` is asked between attempts; when it says yes, give up waiting and return
        False (the holder turned out to be a process that takes the work over).
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.timeout_s
        announced = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if stop_waiting is not None and stop_waiting():
                    os.close(fd)
                    return False
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise IndexLocked(
                        f"another localrag process ({self.holder()}) is writing to "
                        f"{self.path.parent}: wait for it to finish or stop it"
                    ) from None
                if not announced and self.on_wait is not None:
                    self.on_wait(f"waiting for another localrag writer ({self.holder()}) to finish")
                    announced = True
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}".encode())
        os.fsync(fd)
        self._fd = fd
        log.debug("writer lock acquired path=%s", self.path)
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> WriterLock:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
