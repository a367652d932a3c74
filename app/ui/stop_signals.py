"""Per-tab Stop flags: each browser tab's Stop ends its own answer only, and the answer's
generator ends itself (so nothing it sends lands after its "(stopped)" mark)."""

from __future__ import annotations

import threading


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
