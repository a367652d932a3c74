"""A scripted Ollama-protocol responder on 127.0.0.1, for the details the real-protocol server in
test_ollama.py does not implement: num_ctx on the wire, an error line in mid-stream, 404 for a
missing model, model creation. It records every request it gets."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class OllamaStub:
    def __init__(self, models: list[str], reply: list[str], error_after: int | None = None,
                 modelfile_from: str = "") -> None:
        self.models = models
        self.reply = reply
        self.error_after = error_after
        self.modelfile_from = modelfile_from
        self.requests: list[tuple[str, str, Any]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> OllamaStub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def bodies(self, path: str) -> list[Any]:
        return [body for method, p, body in self.requests if p == path]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _json(self, status: int, payload: Any) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> Any:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    return json.loads(raw) if raw else None
                except ValueError:
                    return {"bytes": len(raw)}

            def do_GET(self) -> None:
                stub.requests.append(("GET", self.path, None))
                if self.path == "/api/tags":
                    self._json(200, {"models": [{"name": m, "model": m} for m in stub.models]})
                elif self.path == "/api/ps":
                    self._json(200, {"models": []})
                else:
                    self._json(404, {"error": "not found"})

            def do_HEAD(self) -> None:
                stub.requests.append(("HEAD", self.path, None))
                self.send_response(404)
                self.end_headers()

            def do_POST(self) -> None:
                body = self._body()
                stub.requests.append(("POST", self.path, body))
                if self.path == "/api/show":
                    if body.get("model") not in stub.models:
                        self._json(404, {"error": f"model '{body.get('model')}' not found"})
                        return
                    self._json(200, {"modelfile": f"FROM {stub.modelfile_from}\n",
                                     "parameters": "num_ctx 2048", "template": "",
                                     "details": {}, "model_info": {}})
                elif self.path.startswith("/api/blobs/"):
                    self.send_response(201)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif self.path == "/api/create":
                    self._json(200, {"status": "success"})
                elif self.path == "/api/chat":
                    if body.get("model") not in stub.models:
                        self._json(404, {"error": f"model '{body.get('model')}' not found"})
                        return
                    self._chat(body)
                else:
                    self._json(404, {"error": "not found"})

            def _chat(self, body: Any) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.end_headers()
                for i, piece in enumerate(stub.reply):
                    if stub.error_after is not None and i == stub.error_after:
                        line = {"error": "model runner has unexpectedly stopped"}
                        self.wfile.write((json.dumps(line) + "\n").encode())
                        self.wfile.flush()
                        return
                    line = {"model": body["model"], "created_at": "2026-01-01T00:00:00Z",
                            "message": {"role": "assistant", "content": piece}, "done": False}
                    self.wfile.write((json.dumps(line) + "\n").encode())
                    self.wfile.flush()
                done = {"model": body["model"], "created_at": "2026-01-01T00:00:00Z",
                        "message": {"role": "assistant", "content": ""}, "done": True,
                        "done_reason": "stop", "prompt_eval_count": 10, "eval_count": 5}
                self.wfile.write((json.dumps(done) + "\n").encode())

        return Handler
