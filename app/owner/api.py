"""The index owner's local API: other terminals hand their writes to the running owner.

While ``localrag watch`` or ``serve`` runs it holds the writer lock for good, so ``localrag
ingest`` and ``remove`` would wait for ever; instead they send the request here and the owner
does the write (one writer, and its readers see the result at once). The server listens on
127.0.0.1 on a random port; every request carries a random token, and both are announced in
``data/owner.json`` (mode 0600, removed on stop; a leftover from a killed owner names a dead pid
and is ignored).

Protocol (JSON over HTTP/1.0; ``Authorization: Bearer TOKEN``):
- ``POST /v1/ingest`` ``{"paths": [absolute...], "retry_failed": bool}``: one JSON line per
  progress event (``start``, ``parsed``, ``embedded``, ``done`` with a FileResult), then ``end``
  with every FileResult, or ``error``.
- ``POST /v1/remove`` ``{"ref": str, "cwd": str}``: ``{"name", "chunks", "doc_id"}`` or 404.
"""

from __future__ import annotations

import dataclasses
import hmac
import http.client
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from app.owner.library import Library
from ingest.errors import DocumentNotFound, LocalragError
from ingest.results import FileResult, NullProgress, Progress

log = logging.getLogger(__name__)

MAX_BODY = 8 << 20
CONNECT_TIMEOUT_S = 5.0


class OwnerUnavailable(LocalragError):
    """The owner announced in owner.json does not answer (it just stopped, or the file is stale)."""


class OwnerStopping(Exception):
    """Raised into a handed-over ingest after a committed file when the owner shuts down."""


@dataclass(frozen=True)
class Owner:
    """How to reach the process that owns an index."""

    pid: int
    port: int
    token: str


# -- announcement --------------------------------------------------------------------------------
def find_owner(owner_path: Path) -> Owner | None:
    """The owner announced in ``owner_path`` if its process is alive, else None."""
    try:
        info = json.loads(owner_path.read_text())
        owner = Owner(int(info["pid"]), int(info["port"]), str(info["token"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return owner if _alive(owner.pid) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed child nobody has reaped yet still answers kill(0)
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def _announce(path: Path, owner: Owner) -> None:
    """Write owner.json atomically, readable by this user only (the token is a credential)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(dataclasses.asdict(owner) | {"started_at": time.time()}, handle)
    os.replace(tmp, path)


def _withdraw(path: Path, owner: Owner) -> None:
    if find_owner(path) == owner or not path.exists():
        path.unlink(missing_ok=True)


# -- server --------------------------------------------------------------------------------------
class OwnerApi:
    """The running server; ``stop()`` withdraws owner.json and ends handed-over ingests early."""

    def __init__(self, server: ThreadingHTTPServer, owner: Owner, owner_path: Path) -> None:
        self.server = server
        self.owner = owner
        self.owner_path = owner_path
        self.stopping = threading.Event()
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.5},
                                        name="localrag-owner-api", daemon=True)

    @property
    def port(self) -> int:
        return self.owner.port

    def stop(self) -> None:
        self.stopping.set()
        _withdraw(self.owner_path, self.owner)
        self.server.shutdown()
        self.server.server_close()
        self._thread.join()


def start_owner_api(library: Library) -> OwnerApi:
    """Serve ``library``'s writes to other local processes and announce it in data/owner.json."""
    token = secrets.token_urlsafe(32)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(library, token))
    server.daemon_threads = True
    owner = Owner(os.getpid(), server.server_address[1], token)
    api = OwnerApi(server, owner, library.settings.owner_path)
    server.owner_api = api  # type: ignore[attr-defined]
    api._thread.start()
    _announce(api.owner_path, owner)
    log.info("owner api listening port=%d", owner.port)
    return api


class _StreamProgress:
    """Forwards the pipeline's progress to the client, one JSON line per event.

    A client that went away (Ctrl-C) must not abort the write half-way: the lines are dropped
    and the ingest finishes.
    """

    def __init__(self, handler: BaseHTTPRequestHandler, stopping: threading.Event) -> None:
        self.handler = handler
        self.stopping = stopping
        self.connected = True
        self._lock = threading.Lock()  # OCR events come from the parse thread: whole lines only

    def send(self, event: dict[str, Any]) -> None:
        with self._lock:
            if not self.connected:
                return
            try:
                self.handler.wfile.write(json.dumps(event).encode() + b"\n")
                self.handler.wfile.flush()
            except OSError:
                self.connected = False

    def start(self, files: int, total_bytes: int) -> None:
        self.send({"event": "start", "files": files, "bytes": total_bytes})

    def parsed(self, path: str, pages: int) -> None:
        self.send({"event": "parsed", "path": path, "pages": pages})

    def embedded(self, chunks: int) -> None:
        self.send({"event": "embedded", "chunks": chunks})

    def ocr(self, path: str, done: int, total: int) -> None:
        self.send({"event": "ocr", "path": path, "done": done, "total": total})

    def done(self, result: FileResult) -> None:
        self.send({"event": "done", "result": result_to_json(result)})
        if self.stopping.is_set():
            raise OwnerStopping


def _handler(library: Library, token: str) -> type[BaseHTTPRequestHandler]:
    expected = f"Bearer {token}".encode()

    class Handler(BaseHTTPRequestHandler):
        server_version = "localrag-owner"

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("owner api: " + format, *args)

        def _reply(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _request(self) -> dict[str, Any] | None:
            given = self.headers.get("Authorization", "").encode()
            if not hmac.compare_digest(given, expected):
                self._reply(401, {"error": "missing or wrong token"})
                return None
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._reply(413, {"error": "request too large"})
                return None
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                self._reply(400, {"error": "the body is not JSON"})
                return None
            return body if isinstance(body, dict) else None

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            if self._request() is None:
                return
            if self.path == "/v1/owner":
                self._reply(200, {"pid": os.getpid(), "data_dir": str(library.settings.data_dir)})
            else:
                self._reply(404, {"error": f"no such endpoint {self.path}"})

        def do_POST(self) -> None:  # noqa: N802
            body = self._request()
            if body is None:
                return
            if self.path == "/v1/ingest":
                self._ingest(body)
            elif self.path == "/v1/remove":
                self._remove(body)
            else:
                self._reply(404, {"error": f"no such endpoint {self.path}"})

        def _ingest(self, body: dict[str, Any]) -> None:
            paths = [Path(p) for p in body.get("paths", []) if isinstance(p, str)]
            self.send_response(200)
            self.send_header("Content-Type", "application/x-ndjson")
            self.end_headers()
            api: OwnerApi = self.server.owner_api  # type: ignore[attr-defined]
            progress = _StreamProgress(self, api.stopping)
            try:
                results = library.ingest(paths, progress=progress,
                                         retry_failed=bool(body.get("retry_failed")), source="cli")
            except OwnerStopping:
                progress.send({"event": "error", "message": f"localrag (pid {os.getpid()}) "
                               "stopped before the rest: run the command again"})
                return
            except Exception as err:
                log.exception("handed-over ingest failed")
                message = str(err) if isinstance(err, LocalragError) else \
                    f"unexpected error in localrag (pid {os.getpid()}): {type(err).__name__}: {err}"
                progress.send({"event": "error", "message": message})
                return
            # All results, in the pipeline's order: arguments that do not exist fail before any
            # progress event, so the "done" lines alone would miss them.
            progress.send({"event": "end", "results": [result_to_json(r) for r in results]})

        def _remove(self, body: dict[str, Any]) -> None:
            ref = str(body.get("ref", ""))
            # A relative path means the client's folder, not ours.
            absolute = os.path.normpath(os.path.join(str(body.get("cwd", "/")), ref))
            try:
                doc = library.remove(absolute if absolute in library.paths() else ref,
                                     source="cli")
            except DocumentNotFound as err:
                self._reply(404, {"error": str(err)})
                return
            except LocalragError as err:
                self._reply(409, {"error": str(err)})
                return
            self._reply(200, {"name": doc.name, "chunks": doc.chunks, "doc_id": doc.doc_id})

    return Handler


# -- client --------------------------------------------------------------------------------------
def result_to_json(result: FileResult) -> dict[str, Any]:
    return dataclasses.asdict(result)


def result_from_json(data: dict[str, Any]) -> FileResult:
    fields = {f.name for f in dataclasses.fields(FileResult)}
    values = {k: v for k, v in data.items() if k in fields}
    values["problems"] = tuple(values.get("problems") or ())
    return FileResult(**values)


def _post(owner: Owner, path: str, body: dict[str, Any]) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", owner.port, timeout=CONNECT_TIMEOUT_S)
    try:
        connection.connect()
        # The owner may be busy (a watcher batch) before it answers: no read timeout after this.
        connection.sock.settimeout(None)
        connection.request("POST", path, body=json.dumps(body),
                           headers={"Authorization": f"Bearer {owner.token}",
                                    "Content-Type": "application/json"})
        return connection.getresponse()
    except OSError as err:
        connection.close()
        raise OwnerUnavailable(
            f"localrag (pid {owner.pid}) owns the index but does not answer: {err}"
        ) from err


def ingest_via_owner(owner: Owner, paths: Sequence[Path], retry_failed: bool,
                     progress: Progress | None = None) -> list[FileResult]:
    """Have the owner ingest ``paths`` (made absolute here), following its progress."""
    progress = progress or NullProgress()
    body = {"paths": [os.path.abspath(p) for p in paths], "retry_failed": retry_failed}
    response = _post(owner, "/v1/ingest", body)
    if response.status != 200:
        raise LocalragError(_error_of(response))
    for line in response:
        event = json.loads(line)
        kind = event.get("event")
        if kind == "start":
            progress.start(event["files"], event["bytes"])
        elif kind == "parsed":
            progress.parsed(event["path"], event["pages"])
        elif kind == "embedded":
            progress.embedded(event["chunks"])
        elif kind == "ocr":
            progress.ocr(event["path"], event["done"], event["total"])
        elif kind == "done":
            progress.done(result_from_json(event["result"]))
        elif kind == "error":
            raise LocalragError(event["message"])
        elif kind == "end":
            return [result_from_json(r) for r in event["results"]]
    raise LocalragError(f"localrag (pid {owner.pid}) stopped in the middle of the request: "
                        "run the command again")


def remove_via_owner(owner: Owner, ref: str) -> dict[str, Any]:
    """Have the owner remove one document; returns its name, chunk count and id."""
    response = _post(owner, "/v1/remove", {"ref": ref, "cwd": os.getcwd()})
    if response.status == 404:
        raise DocumentNotFound(_error_of(response))
    if response.status != 200:
        raise LocalragError(_error_of(response))
    return dict(json.loads(response.read()))


def _error_of(response: http.client.HTTPResponse) -> str:
    try:
        return str(json.loads(response.read())["error"])
    except (ValueError, KeyError, TypeError):
        return f"the owner answered HTTP {response.status}"
