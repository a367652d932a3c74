"""The watch folder inside a process that owns the index: every write goes through the Library."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from app.components import open_registry
from app.owner.library import Library
from ingest.registry import Registry
from ingest.results import FileResult, Progress
from ingest.watch import FolderWatcher

log = logging.getLogger(__name__)


class Watching:
    """A running watcher; ``stop()`` finishes the file in progress and closes its registry reader."""

    def __init__(self, watcher: FolderWatcher, registry: Registry) -> None:
        self.watcher = watcher
        self._registry = registry

    @property
    def folders(self) -> list[str]:
        return self.watcher.folders

    def stop(self) -> None:
        self.watcher.stop()
        self._registry.close()


def start_watcher(library: Library, folders: Sequence[Path], stable_s: float) -> Watching:
    """Reconcile ``folders`` with the index, then follow their changes, in a background thread.

    Ingests, renames and deletions are applied through ``library`` (its single writer); each
    file gets an activity line (``Library.note``).
    """

    def apply(paths: list[Path], progress: Progress) -> Sequence[FileResult]:
        return library.ingest(paths, progress=progress, source="watch")

    def forget(paths: list[str]) -> object:
        return library.forget_paths(paths, source="watch")

    # Its own read connection: the watcher's thread looks paths up while the Library writes.
    registry = open_registry(library.settings)
    watcher = FolderWatcher(folders, registry, apply, forget, report=library.note,
                            stable_s=stable_s)
    try:
        watcher.start()
    except BaseException:
        registry.close()
        raise
    return Watching(watcher, registry)
