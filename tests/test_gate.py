"""The generation gate: strict FIFO admission to a backend's slots, places in line, and slots
freed whichever way a generation ends (done, failed, stopped while waiting or generating)."""

from __future__ import annotations

import threading
import time

import pytest

from app.answer.pump import EventPump
from app.llm.gate import Gate, ordinal, waiting_line


def test_one_slot_admits_in_the_order_of_arrival_and_reports_places():
    gate = Gate(1)
    first = gate.join()
    assert first.wait(0) and first.place == 0
    waiting = [gate.join() for _ in range(3)]
    assert [t.place for t in waiting] == [1, 2, 3]
    assert not any(t.wait(0) for t in waiting)
    first.leave()
    assert waiting[0].wait(0) and [t.place for t in waiting] == [0, 1, 2]
    waiting[1].leave()  # gave up while waiting: the one behind moves up, nobody is admitted
    assert waiting[2].place == 1 and not waiting[2].wait(0) and gate.active == 1
    waiting[0].leave()
    assert waiting[2].wait(0) and gate.waiting == 0


def test_slots_admit_that_many_at_once():
    gate = Gate(4)
    tickets = [gate.join() for _ in range(6)]
    assert [t.wait(0) for t in tickets] == [True] * 4 + [False] * 2
    assert [t.place for t in tickets[4:]] == [1, 2]
    tickets[2].leave()
    assert tickets[4].wait(0) and not tickets[5].wait(0) and gate.active == 4


def test_leaving_twice_frees_one_slot_only():
    gate = Gate(1)
    first = gate.join()
    second, third = gate.join(), gate.join()
    first.leave()
    first.leave()
    assert second.wait(0) and not third.wait(0) and gate.active == 1


def test_threads_are_served_strictly_first_come_first_served():
    gate, order = Gate(1), []
    holder = gate.join()
    threads = []
    def run(n, ticket):
        with ticket:
            ticket.wait()
            order.append(n)

    for n in range(6):  # joined here, in this order
        threads.append(threading.Thread(target=run, args=(n, gate.join())))
    for thread in reversed(threads):  # started in the opposite order: no head start counts
        thread.start()
    holder.leave()
    for thread in threads:
        thread.join(5)
    assert order == list(range(6))


def test_hold_frees_the_slot_when_the_block_fails():
    gate = Gate(1)
    with pytest.raises(RuntimeError), gate.hold():
        raise RuntimeError("the model failed")
    assert gate.active == 0 and gate.join().wait(0)


def test_a_stopped_waiter_leaves_the_line_and_a_stopped_generation_frees_its_slot():
    """The chain's way of using the gate, stopped as the UI's Stop and a gone client stop it."""
    gate = Gate(1)

    def answer(tokens):
        with gate.join() as ticket:
            while not ticket.wait(0.05):
                yield ("waiting", ticket.place)
            for n in range(tokens):
                yield ("token", n)
                time.sleep(0.01)  # a model's pace: the pump does not run far ahead

    long = EventPump(answer(10_000))
    assert long.get(5) == (True, ("token", 0))
    behind = EventPump(answer(3))
    assert behind.get(5) == (True, ("waiting", 1))
    behind.stop()  # Stop while waiting: it leaves the line
    while behind.get(1)[0]:
        pass
    assert gate.waiting == 0 and gate.active == 1
    long.stop()  # Stop while generating: the slot is freed
    assert long.join(5) and gate.active == 0
    assert gate.join().wait(0)


def test_a_failed_generation_frees_its_slot():
    gate = Gate(1)

    def answer():
        with gate.join() as ticket:
            ticket.wait()
            yield "token"
            raise ValueError("backend died")

    pump = EventPump(answer())
    assert pump.get(5) == (True, "token")
    with pytest.raises(ValueError):
        while pump.get(5)[0]:
            pass
    assert pump.join(5) and gate.active == 0


def test_a_gate_needs_a_slot():
    with pytest.raises(ValueError):
        Gate(0)


@pytest.mark.parametrize(("n", "text"), [(1, "1st"), (2, "2nd"), (3, "3rd"), (4, "4th"),
                                         (11, "11th"), (12, "12th"), (13, "13th"), (21, "21st"),
                                         (22, "22nd"), (101, "101st"), (111, "111th")])
def test_ordinals(n, text):
    assert ordinal(n) == text


def test_waiting_line():
    assert waiting_line(2) == "waiting: 2nd in line"


def test_pump_hands_over_items_and_reports_quiet_spells():
    def slow():
        yield 1
        time.sleep(0.3)
        yield 2

    pump = EventPump(slow())
    assert pump.get(5) == (True, 1)
    assert pump.get(0.05) == (True, None)  # nothing yet: the caller may look around
    assert pump.get(5) == (True, 2)
    assert pump.get(5) == (False, None)
    assert pump.get(5) == (False, None)
