"""An answer's events from a worker thread, and the per-tab Stop flags that end it: the page's
generator stays responsive (a progress tick while the model reads) and owns its own end."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from queue import Empty, Queue
from typing import Any

# How often the status line moves while nothing else happens (prompt processing takes 5-30 s).
PROGRESS_POLL_S = 0.5


def events_in_thread(events: Iterator[Any], poll_s: float = PROGRESS_POLL_S) -> Iterator[Any]:
    """The chain's events from a worker thread, with ``None`` every ``poll_s`` without one (so
    the page can show the seconds passing while the model reads). Closing this generator (Stop,
    a closed tab) stops the chain at its next event."""
    queue: Queue[Any] = Queue()
    stop = threading.Event()
    end = object()

    def run() -> None:
        try:
            for event in events:
                queue.put(event)
                if stop.is_set():
                    break
        except BaseException as err:  # handed to the page's generator, which reports it
            queue.put(err)
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                close()
            queue.put(end)

    threading.Thread(target=run, name="localrag-answer", daemon=True).start()
    try:
        while True:
            try:
                item = queue.get(timeout=poll_s)
            except Empty:
                yield None
                continue
            if item is end:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


class StopSignals:
    """One Stop flag per browser session. The answer's own generator watches its flag and writes
    "(stopped)" as its last frame: a Stop that cancelled the generator from outside raced the
    frames already on their way, which could overwrite the mark with more of the answer."""

    def __init__(self) -> None:
        self._flags: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def arm(self, key: str) -> None:
        """A new question: a Stop from now on is for it (set before the answer starts, so an Esc
        pressed at once is not lost)."""
        with self._lock:
            self._flags[key] = threading.Event()

    def fire(self, key: str) -> None:
        with self._lock:
            flag = self._flags.get(key)
        if flag is not None:
            flag.set()

    def flag(self, key: str | None) -> threading.Event:
        """The flag the answer for ``key`` watches, kept until the next question of that session
        (the tab's session key; an unknown key gets a flag nobody fires)."""
        with self._lock:
            return self._flags.setdefault(key, threading.Event()) if key else threading.Event()

    def done(self, key: str | None) -> None:
        with self._lock:
            self._flags.pop(key or "", None)
