"""The chain's events from a worker thread, for a caller that must stay responsive.

The browser page and the API both consume ``RagChain.stream`` from elsewhere: the page must
move its clock while the model reads, the API must notice a client that went away. The chain
runs in its own thread and hands each event over a queue; ``stop()`` ends it at its next event,
and the thread closes the chain's generator itself (a generator can only be closed by the
thread that runs it), so the generation stops and its slot in the gate is freed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from queue import Empty, Queue
from typing import Any

_END = object()


class EventPump:
    """Runs an iterator in a daemon thread; ``get`` takes its items, ``stop`` ends it early."""

    def __init__(self, events: Iterator[Any], name: str = "localrag-answer") -> None:
        self._events = events
        self._queue: Queue[Any] = Queue()
        self._stop = threading.Event()
        self.finished = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for event in self._events:
                self._queue.put(event)
                if self._stop.is_set():
                    break
        except BaseException as err:  # handed to the consumer, which reports it
            self._queue.put(err)
        finally:
            close = getattr(self._events, "close", None)
            if close is not None:
                close()
            self._queue.put(_END)

    def get(self, timeout: float) -> tuple[bool, Any]:
        """(more, item): ``(True, None)`` when nothing came within ``timeout`` seconds,
        ``(False, None)`` at the end; an exception of the iterator is raised here."""
        if self.finished:
            return False, None
        try:
            item = self._queue.get(timeout=timeout)
        except Empty:
            return True, None
        if item is _END:
            self.finished = True
            return False, None
        if isinstance(item, BaseException):
            raise item
        return True, item

    def stop(self) -> None:
        """End the iterator at its next item (and close it, in its own thread)."""
        self._stop.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread to end; True when it has."""
        self._thread.join(timeout)
        return not self._thread.is_alive()


def events_in_thread(events: Iterator[Any], poll_s: float) -> Iterator[Any]:
    """``events`` from a worker thread, with ``None`` every ``poll_s`` without one. Closing this
    generator (Stop, a closed tab) stops the iterator at its next event."""
    pump = EventPump(events)
    try:
        while True:
            more, item = pump.get(poll_s)
            if not more:
                return
            yield item
    finally:
        pump.stop()
