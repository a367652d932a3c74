"""Fair admission to a backend's generations: a FIFO queue in front of its ``parallel`` slots.

The embedded llama.cpp model generates one answer at a time; a server backend (Ollama, an
OpenAI-compatible server) takes as many as its slots. Every chat (browser tab, API client)
joins one queue per backend and is admitted strictly in the order it joined, so nobody is
overtaken (a plain lock wakes an arbitrary waiter). A waiter knows its place in line at any
moment, and leaving (answer done, failed, cancelled, client gone) frees its slot or its place.
Retrieval never goes through here: only generation is scarce.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager


class Ticket:
    """One waiter's place in a ``Gate``: wait for it, ask its place, leave (idempotent)."""

    def __init__(self, gate: Gate) -> None:
        self._gate = gate
        self.admitted = False
        self.left = False

    @property
    def place(self) -> int:
        """0 once admitted (or after leaving), else the 1-based place among those waiting."""
        return self._gate._place(self)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until admitted or ``timeout`` seconds pass; True when admitted."""
        return self._gate._wait(self, timeout)

    def leave(self) -> None:
        """Free the slot (admitted) or the place in line (still waiting); once only."""
        self._gate._leave(self)

    def __enter__(self) -> Ticket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.leave()


class Gate:
    """A FIFO queue in front of ``slots`` concurrent generations."""

    def __init__(self, slots: int = 1) -> None:
        if slots < 1:
            raise ValueError(f"a gate needs at least one slot, not {slots}")
        self.slots = slots
        self._cond = threading.Condition()
        self._queue: deque[Ticket] = deque()
        self._active = 0

    @property
    def active(self) -> int:
        """Generations running now."""
        with self._cond:
            return self._active

    @property
    def waiting(self) -> int:
        """Waiters not yet admitted."""
        with self._cond:
            return len(self._queue)

    def join(self) -> Ticket:
        """Take a place at the end of the line (admitted at once when a slot is free)."""
        ticket = Ticket(self)
        with self._cond:
            self._queue.append(ticket)
            self._admit()
        return ticket

    @contextmanager
    def hold(self) -> Iterator[None]:
        """A slot for the block, waiting in line for it without reporting the place."""
        with self.join() as ticket:
            ticket.wait()
            yield

    # Admission is done by whoever frees a slot or joins, under the lock, from the head of the
    # line only: that is what makes the order strict.
    def _admit(self) -> None:
        while self._queue and self._active < self.slots:
            ticket = self._queue.popleft()
            ticket.admitted = True
            self._active += 1
        self._cond.notify_all()

    def _place(self, ticket: Ticket) -> int:
        with self._cond:
            if ticket.admitted or ticket.left:
                return 0
            return self._queue.index(ticket) + 1

    def _wait(self, ticket: Ticket, timeout: float | None) -> bool:
        with self._cond:
            if ticket.left:
                raise RuntimeError("this ticket has left the line")
            return self._cond.wait_for(lambda: ticket.admitted, timeout)

    def _leave(self, ticket: Ticket) -> None:
        with self._cond:
            if ticket.left:
                return
            ticket.left = True
            if ticket.admitted:
                self._active -= 1
            else:
                self._queue.remove(ticket)
            self._admit()


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th ... 11th, 12th, 13th ... 21st."""
    if 10 <= n % 100 <= 20:
        return f"{n}th"
    return f"{n}" + {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")


def waiting_line(place: int) -> str:
    """What a waiting chat shows: ``waiting: 2nd in line``."""
    return f"waiting: {ordinal(place)} in line"
