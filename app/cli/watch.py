"""`localrag watch`: keep folders indexed, owning the index while it runs."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import click

from app.cli.common import report_repair, settings_of, user_errors


@click.command()
@click.argument("folders", nargs=-1, type=click.Path(file_okay=False, path_type=Path))
@click.option("--stable", "stable_s", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Seconds a new or changed file must stay unchanged before it is read "
                   "(default: the watch_stable_s setting, 2).")
@click.pass_context
@user_errors
def watch(ctx: click.Context, folders: tuple[Path, ...], stable_s: float | None) -> None:
    """Keep folders indexed while this runs (default: data/inbox, or the watch_dirs setting).

    New PDFs are indexed once a copy has finished, edited ones re-indexed, renamed or moved
    ones keep their vectors, deleted ones leave the index; sub-folders are included. Changes
    made while it was not running are applied when it starts. Documents ingested from other
    folders are never touched. While it runs it owns the index: `localrag ingest` and
    `localrag remove` in another terminal hand their work to it. Ctrl-C stops it.

    \b
    Examples:
      localrag watch
      localrag watch ~/Documents/papers ~/Downloads/contracts
      LOCALRAG_WATCH_DIRS=~/papers:~/contracts localrag watch --stable 5
    """
    from app.owner.api import find_owner, start_owner_api
    from app.owner.library import Library
    from app.owner.watch_folder import start_watcher
    from ingest.lock import WriterLock

    settings = settings_of(ctx)
    targets = _folders(folders, settings)
    owner = find_owner(settings.owner_path)
    if owner is not None:
        raise click.ClickException(f"localrag (pid {owner.pid}) already owns "
                                   f"{settings.data_dir}: one watcher per index")
    stable_s = stable_s or settings.watch_stable_s
    holder = WriterLock(settings.lock_path).holder() if settings.lock_path.exists() else "unknown"
    if holder != "unknown":  # the lock file names its holder only while it is held
        click.echo(f"waiting for another localrag writer ({holder}) to finish …", err=True)
    library = Library(settings, lock_timeout_s=settings.lock_timeout_s)
    stopping = _stop_on_signals()  # only now: a Ctrl-C while waiting for the lock just exits
    handles: list[Any] = []
    try:
        report_repair(library.repair_report)
        library.on_activity(lambda line: click.echo(f"{time.strftime('%H:%M:%S')} {line}", err=True))
        handles.append(start_watcher(library, targets, stable_s))
        handles.append(start_owner_api(library))
        click.echo(f"watching {', '.join(str(f) for f in targets)} "
                   f"(files stable for {stable_s:g} s); Ctrl-C to stop",
                   err=True)
        # Load the model now rather than on the first file, off the main thread so that a
        # Ctrl-C during the load is handled at once.
        threading.Thread(target=lambda: library.embedder.model, name="localrag-warm-up",
                         daemon=True).start()
        stopping.wait()
        click.echo("stopping after the current file (Ctrl-C again to stop at once) …", err=True)
    finally:
        for handle in reversed(handles):
            handle.stop()
        library.close()
    click.echo("stopped", err=True)


def _folders(given: tuple[Path, ...], settings: Any) -> list[Path]:
    if not given and not settings.watch_dirs:
        settings.inbox_dir.mkdir(parents=True, exist_ok=True)
    targets = [Path(os.path.abspath(os.path.expanduser(f))) for f in (given or settings.watch_folders)]
    for folder in targets:
        if not folder.is_dir():
            raise click.ClickException(f"cannot watch {folder}: no such folder")
    return targets


def _stop_on_signals() -> threading.Event:
    """First Ctrl-C or SIGTERM: stop cleanly. Second: exit at once (the next start repairs the
    file that was being written, as after a crash)."""
    stopping = threading.Event()

    def handle(signum: int, frame: Any) -> None:
        if stopping.is_set():
            os._exit(128 + signum)
        stopping.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, handle)
    return stopping


def register_watch_commands(group: click.Group) -> None:
    group.add_command(watch)
