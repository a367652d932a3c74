"""Who may write the index: this process under the writer lock, or the running owner.

A running `watch` or `serve` holds the writer lock for its whole life, so a command that writes
either takes the lock or hands its work to that owner through the owner's local API.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click


def writer_lock(settings: Any, wait: bool) -> Any:
    from ingest.lock import WriterLock

    def announce(message: str) -> None:
        click.echo(message + " …", err=True)

    timeout = settings.lock_timeout_s if wait else 0.0
    return WriterLock(settings.lock_path, timeout_s=timeout, on_wait=announce)


def claim_writer(settings: Any, wait: bool) -> tuple[Any, Any]:
    """(held writer lock, None), or (None, owner) when a running `watch`/`serve` owns the index:
    its lock is never released while it runs, so the work is handed to it instead."""
    from app.owner.api import find_owner

    lock = writer_lock(settings, wait)
    found: list[Any] = []

    def owner_running() -> bool:
        found[:] = [o for o in (find_owner(settings.owner_path),) if o is not None]
        return bool(found)

    if lock.acquire(stop_waiting=owner_running):
        return lock, None
    return None, found[0]


def as_writer(settings: Any, wait: bool, local: Any, handed: Any) -> Any:
    """Run ``local()`` holding the writer lock, or ``handed(owner)`` where an owner runs."""
    from app.owner.api import OwnerUnavailable

    lock, owner = claim_writer(settings, wait)
    if owner is not None:
        try:
            return handed(owner)
        except OwnerUnavailable as err:  # raised before the owner did anything
            click.echo(f"{err}; waiting for the writer lock instead", err=True)
            lock = writer_lock(settings, wait)
            lock.acquire()
    try:
        return local()
    finally:
        lock.release()


@contextmanager
def exclusive_writer(settings: Any, wait: bool, command: str) -> Iterator[None]:
    """The writer lock for work an owner process cannot take over (a rebuild)."""
    lock, owner = claim_writer(settings, wait)
    if owner is not None:
        raise click.ClickException(f"localrag (pid {owner.pid}) owns the index (watch or serve): "
                                   f"stop it, then run {command}")
    try:
        yield
    finally:
        lock.release()
