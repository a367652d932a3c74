"""Folders in, index calls out: keep the index following what is in one or more folders.

Filesystem events (watchdog, inotify on Linux) only mark paths as pending; one worker thread
decides what to do and calls back, so the owner of the index does every write:

- a PDF is handed to ``apply`` once its size and mtime have held still for ``stable_s`` (a file
  still being copied is never read half-written), several at a time in small batches;
- a deleted path goes to ``forget`` (its document is deleted when no path is left), after the
  files still settling, so a file moved between two watched places is recognised by its content
  hash (the pipeline's "renamed") instead of being deleted and embedded again;
- a file whose size and mtime match the registry is skipped unread; the pipeline remembers bad
  content, so a bad PDF is reported once and not read again until it changes.

On start the folders are reconciled with the registry (the same queue, fed by a walk), so
changes made while nothing was watching are applied and restarting is always safe. Only paths
inside the watched folders are ever forgotten: documents ingested from elsewhere stay.

Over 400 lines because the event handlers, the settling queue, deferred deletions and the
start-up reconciliation share one lock and one pending map: split apart they would pass that
state between modules.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest.discovery import is_candidate_name, is_temporary_name
from ingest.errors import LocalragError
from ingest.registry import Registry
from ingest.results import FileResult, NullProgress, Progress

log = logging.getLogger(__name__)

Apply = Callable[[list[Path], Progress], Sequence[FileResult]]
Forget = Callable[[list[str]], object]
Report = Callable[[str], None]

# Files per apply call: results (and the activity lines) come per batch, and a stop request
# waits for at most the file in progress.
BATCH = 8
# Deletions wait for files still settling (a moved file may reappear under its new name), but
# not for ever behind a long stream of new files.
MAX_DELETE_DELAY_S = 60.0
_NOTED_LIMIT = 10_000


class WatchStopped(Exception):
    """Raised into the pipeline after a committed file to stop a batch early."""


@dataclass
class _Pending:
    event_at: float  # monotonic time of the last event on this path
    signature: tuple[int, int, int] | None = None  # size, mtime_ns, ctime_ns at the last look
    signature_since: float = 0.0


class _StopAware(NullProgress):
    def __init__(self, stopping: threading.Event) -> None:
        self.stopping = stopping

    def done(self, result: FileResult) -> None:
        if self.stopping.is_set():
            raise WatchStopped


class FolderWatcher:
    """Watch ``folders`` recursively and call ``apply``/``forget`` for what changes in them."""

    def __init__(self, folders: Iterable[Path], registry: Registry, apply: Apply, forget: Forget,
                 report: Report, stable_s: float = 2.0) -> None:
        self.folders = _outermost([os.path.abspath(f) for f in folders])
        self.registry = registry  # read-only use, from the worker thread only
        self.apply = apply
        self.forget = forget
        self.report = report
        self.stable_s = stable_s
        self._cond = threading.Condition()
        self._pending: dict[str, _Pending] = {}
        self._gone: dict[str, float] = {}
        self._scan: set[str] = set()
        self._dirty = False
        self._stopping = threading.Event()
        self._noted: set[str] = set()
        self._noted_lock = threading.Lock()  # the start-up scan and the observer both note
        self._thread: threading.Thread | None = None
        self._observer: Any = None

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        from watchdog import events
        from watchdog.observers import Observer

        for folder in self.folders:
            if not os.path.isdir(folder):
                raise LocalragError(f"cannot watch {folder}: no such folder")
        # Opened/closed-without-writing events are left out: the pipeline's own reads would
        # otherwise queue every file again right after it is indexed.
        wanted = [events.FileCreatedEvent, events.FileModifiedEvent, events.FileAttribEvent,
                  events.FileClosedEvent, events.FileMovedEvent, events.FileDeletedEvent,
                  events.DirCreatedEvent, events.DirMovedEvent, events.DirDeletedEvent]
        observer = Observer()
        try:
            for folder in self.folders:
                observer.schedule(_Handler(self), folder, recursive=True, event_filter=wanted)
            observer.start()
        except OSError as err:
            raise LocalragError(
                f"cannot watch {', '.join(self.folders)}: {err.strerror or err} (too many folders? "
                "raise fs.inotify.max_user_watches)"
            ) from err
        self._observer = observer
        self._thread = threading.Thread(target=self._run, name="localrag-watch", daemon=True)
        self._thread.start()
        log.info("watching folders=%s stable_s=%.2f", self.folders, self.stable_s)

    def stop(self) -> None:
        """Stop watching; a file being indexed is finished first, the rest waits for next start."""
        self._stopping.set()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()

    # -- events (observer thread): record, never block -----------------------------------------
    def _file_event(self, path: str) -> None:
        if not self._watched(path):
            return
        name = os.path.basename(path)
        if not is_candidate_name(name):
            self._ignored(path)
            return
        now = time.monotonic()
        with self._cond:
            pending = self._pending.get(path)
            if pending is None:
                self._pending[path] = _Pending(now)
                self._dirty = True
                self._cond.notify_all()
            else:
                pending.event_at = now  # a write in progress: no wake-up per write

    def _gone_event(self, path: str) -> None:
        if self._inside(path):
            with self._cond:
                self._gone[path] = time.monotonic()
                self._dirty = True
                self._cond.notify_all()

    def _dir_event(self, path: str) -> None:
        if self._watched(path):
            with self._cond:
                self._scan.add(path)
                self._dirty = True
                self._cond.notify_all()

    def _ignored(self, path: str) -> None:
        if is_temporary_name(os.path.basename(path)):
            return
        with self._noted_lock:
            if path in self._noted:
                return
            if len(self._noted) >= _NOTED_LIMIT:
                self._noted.clear()
            self._noted.add(path)
        self.report(f"watch: ignored {os.path.basename(path)} (not a PDF)")

    def _ignored_many(self, paths: list[str]) -> None:
        """At start, one line for all the files that are not PDFs, not one per file."""
        with self._noted_lock:
            fresh = [p for p in paths if p not in self._noted]
            self._noted.update(fresh)
        names = [os.path.basename(p) for p in fresh if not is_temporary_name(os.path.basename(p))]
        if names:
            shown = ", ".join(names[:5]) + (", …" if len(names) > 5 else "")
            self.report(f"watch: ignored {len(names)} files that are not PDFs ({shown})")

    def _inside(self, path: str) -> bool:
        return any(path.startswith(folder + os.sep) for folder in self.folders)

    def _watched(self, path: str) -> bool:
        """Inside a watched folder and not under a hidden folder (``.git``, ``.Trash``)."""
        for folder in self.folders:
            if path.startswith(folder + os.sep):
                parts = path[len(folder) + 1:].split(os.sep)
                return not any(part.startswith(".") for part in parts[:-1])
        return False

    # -- worker thread -------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._reconcile()
        except Exception as err:  # keep watching: the live events still work
            log.exception("reconciliation failed")
            self.report(f"watch: could not compare the folders with the index: {err}")
        while not self._stopping.is_set():
            try:
                wait_s = self._step()
            except Exception as err:
                log.exception("watch step failed")
                self.report(f"watch: error: {type(err).__name__}: {err}")
                wait_s = self.stable_s
            if wait_s == 0:
                continue
            with self._cond:
                if not self._dirty and not self._stopping.is_set():
                    self._cond.wait(wait_s)  # None: until the next event; idle costs nothing
                self._dirty = False

    def _reconcile(self) -> None:
        """Queue what changed while nobody watched: new or changed files, and vanished paths."""
        known = {e.path: e for e in self.registry.path_entries() if self._inside(e.path)}
        on_disk: set[str] = set()
        others: list[str] = []
        queued = 0
        # Already eligible: only the files' own age (mtime, ctime) decides whether to wait.
        since = time.monotonic() - self.stable_s
        for folder in self.folders:
            for path in _walk(folder):
                on_disk.add(path)
                if not is_candidate_name(os.path.basename(path)):
                    others.append(path)
                    continue
                entry = known.get(path)
                try:
                    st = os.stat(path)
                except OSError:
                    continue
                if entry is not None and (entry.size, entry.mtime_ns) == (st.st_size, st.st_mtime_ns):
                    continue
                with self._cond:
                    self._pending.setdefault(path, _Pending(since))
                queued += 1
        self._ignored_many(others)
        vanished = [p for p in known if p not in on_disk]
        with self._cond:
            for path in vanished:
                self._gone.setdefault(path, since)
        log.info("reconciled folders=%d known=%d queued=%d vanished=%d",
                 len(self.folders), len(known), queued, len(vanished))

    def _step(self) -> float | None:
        """Apply what is due; return how long to sleep (None: until an event)."""
        with self._cond:
            scans, self._scan = self._scan, set()
        for folder in scans:
            for path in _walk(folder):
                self._file_event(path)
        ready, wait_s = self._ready()
        for start in range(0, len(ready), BATCH):
            if self._stopping.is_set():
                return None
            self._apply(ready[start:start + BATCH])
        gone, gone_wait = self._due_deletions()
        if gone:
            self._forget(gone)
        if ready or gone:
            return 0
        return _sooner(wait_s, gone_wait)

    def _ready(self) -> tuple[list[str], float | None]:
        """Pending files whose size and mtime have held still for ``stable_s``."""
        now, wall = time.monotonic(), time.time()
        with self._cond:
            snapshot = [(path, p, p.event_at) for path, p in self._pending.items()]
        ready, drop = [], []
        wait_s: float | None = None
        for path, pending, event_at in snapshot:
            quiet = now - event_at
            if quiet < self.stable_s:
                wait_s = _sooner(wait_s, self.stable_s - quiet)
                continue
            try:
                st = os.stat(path)
            except FileNotFoundError:
                drop.append((path, event_at))  # its deletion event follows
                continue
            except OSError:
                ready.append((path, event_at))  # the pipeline reports why it cannot be read
                continue
            if not stat.S_ISREG(st.st_mode):
                drop.append((path, event_at))
                continue
            signature = (st.st_size, st.st_mtime_ns, st.st_ctime_ns)
            if signature != pending.signature:
                pending.signature, pending.signature_since = signature, now
            # The file's own times say when it was last written (ctime also moves when a copy
            # sets an old mtime at the end); an unchanged signature covers clock skew on shares.
            age = wall - max(st.st_mtime, st.st_ctime)
            if age >= self.stable_s or now - pending.signature_since >= self.stable_s:
                if self._indexed_as_is(path, st):
                    drop.append((path, event_at))
                else:
                    ready.append((path, event_at))
            else:
                wait_s = _sooner(wait_s, max(0.05, self.stable_s - max(age, 0.0)))
        taken = []
        wanted = set(ready)
        with self._cond:
            for path, event_at in ready + drop:
                current = self._pending.get(path)
                if current is not None and current.event_at == event_at:  # no event since
                    del self._pending[path]
                    if (path, event_at) in wanted:
                        taken.append(path)
                elif current is not None:
                    wait_s = _sooner(wait_s, self.stable_s)
        return sorted(taken), wait_s

    def _indexed_as_is(self, path: str, st: os.stat_result) -> bool:
        entry = self.registry.path_entry(path)
        return entry is not None and (entry.size, entry.mtime_ns) == (st.st_size, st.st_mtime_ns)

    def _due_deletions(self) -> tuple[list[str], float | None]:
        now = time.monotonic()
        with self._cond:
            settling = bool(self._pending)
            due = []
            wait_s: float | None = None
            for path, at in list(self._gone.items()):
                waited = now - at
                if waited >= self.stable_s and (not settling or waited >= MAX_DELETE_DELAY_S):
                    due.append(path)
                    del self._gone[path]
                elif waited < self.stable_s:
                    wait_s = _sooner(wait_s, self.stable_s - waited)
                else:
                    wait_s = _sooner(wait_s, MAX_DELETE_DELAY_S - waited)
        if not due:
            return [], wait_s
        # A deleted folder: every registered path under it. A path that exists again (an
        # editor's save replaced it) is not forgotten; the new file is pending instead.
        entries = self.registry.all_paths()
        paths = set()
        for gone in due:
            paths.add(gone)
            paths.update(p for p in entries if p.startswith(gone + os.sep))
        registered = set(entries)
        return sorted(p for p in paths if p in registered and self._inside(p)
                      and not os.path.exists(p)), wait_s

    def _apply(self, paths: list[str]) -> None:
        try:
            self.apply([Path(p) for p in paths], _StopAware(self._stopping))
        except WatchStopped:
            log.info("stopped after the current file; the rest is picked up at the next start")
        except Exception as err:  # one bad batch must not end the watcher
            log.exception("applying paths failed")
            self.report(f"watch: could not index {len(paths)} files: {type(err).__name__}: {err}")

    def _forget(self, paths: list[str]) -> None:
        try:
            self.forget(paths)
        except Exception as err:
            log.exception("forgetting paths failed")
            self.report(f"watch: could not remove {len(paths)} files: {type(err).__name__}: {err}")


class _Handler:
    """watchdog's handler interface (``dispatch``), translating events into the watcher's queue."""

    def __init__(self, watcher: FolderWatcher) -> None:
        self.watcher = watcher

    def dispatch(self, event: Any) -> None:
        src = os.fsdecode(event.src_path)
        dest = os.fsdecode(event.dest_path) if event.dest_path else ""
        kind = event.event_type
        if event.is_directory:
            if kind in ("deleted", "moved"):
                self.watcher._gone_event(src)
            if kind == "created":
                self.watcher._dir_event(src)
            elif kind == "moved" and dest:
                self.watcher._dir_event(dest)
            return
        if kind in ("deleted", "moved"):
            self.watcher._gone_event(src)
            if kind == "moved" and dest:
                self.watcher._file_event(dest)
        else:
            self.watcher._file_event(src)


def _walk(folder: str) -> Iterable[str]:
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            yield os.path.join(root, name)


def _outermost(folders: list[str]) -> list[str]:
    """Drop folders inside other watched folders: each file is watched once."""
    unique = sorted(set(folders))
    return [f for f in unique if not any(f.startswith(o + os.sep) for o in unique if o != f)]


def _sooner(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)
