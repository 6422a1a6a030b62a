"""The stub's HTTP side: requests to /api/<method>, response URLs and upload URLs
parsed as Slack's servers parse them, answered from SlackStub."""

from __future__ import annotations

import json
import time
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from tests.slack_stub.model import (
    Call,
    _ApiError,
)

if TYPE_CHECKING:
    from tests.slack_stub.stub import SlackStub


class _Handler(BaseHTTPRequestHandler):
    server_version = "SlackStub/1.0"

    @property
    def stub(self) -> SlackStub:
        return self.server.stub  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:  # keep pytest output quiet
        pass

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        if isinstance(body, (dict, list)):
            data, ctype = json.dumps(body).encode(), "application/json; charset=utf-8"
        else:
            data, ctype = str(body).encode(), "text/plain; charset=utf-8"
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _args(self, query: str, raw: bytes) -> dict[str, Any]:
        args: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
        ctype = (self.headers.get("Content-Type") or "").lower()
        if raw and ctype.startswith("application/json"):
            body = json.loads(raw)
            if isinstance(body, dict):
                args.update(body)
        elif raw:
            args.update(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
        return args

    def _fault(self, key: str) -> bool:
        fault = self.stub._take_fault(key)
        if fault is None:
            return False
        self._send(fault.status, {"ok": False, "error": fault.error}, fault.headers)
        return True

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        path, raw = parts.path, self._body()
        headers = {k.lower(): v for k, v in self.headers.items()}
        if path.startswith("/api/"):
            method = path[len("/api/") :]
            try:
                args = self._args(parts.query, raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                args = {"_raw": raw}
            self.stub._record(Call(method, args, headers))
            delay = self.stub._enter(method)
            try:
                if delay:
                    time.sleep(delay)
                if self._fault(method):
                    return
                try:
                    if method == "oauth.v2.access":  # the app's credentials, not a token
                        result = {"ok": True, **self.stub._oauth_access(args, headers)}
                    else:
                        self.stub._check_auth(method, args, headers)
                        result = {"ok": True, **self.stub._dispatch(method, args, headers)}
                except _ApiError as e:
                    result = {"ok": False, "error": e.error}
                    if e.messages:
                        result["response_metadata"] = {"messages": e.messages}
                self._send(200, result)
            finally:
                self.stub._leave(method)
        elif path.startswith("/response/") and self.command == "POST":
            if self._fault("response_url"):
                return
            try:
                body: Any = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                body = dict(parse_qsl(raw.decode("utf-8", "replace")))
            with self.stub._lock:
                self.stub._state.responses.append((path[len("/response/") :], body))
            self._send(200, {"ok": True})
        elif path.startswith("/upload/v1/") and self.command == "POST":
            if self._fault("upload"):
                return
            file_id = path[len("/upload/v1/") :]
            with self.stub._lock:
                known = file_id in self.stub._state.pending_files
                if known:
                    self.stub._state.uploads[file_id] = raw
            if known:
                self._send(200, f"OK - {len(raw)}")
            else:
                self._send(404, "not found")
        else:
            self._send(404, {"ok": False, "error": "unknown_method"})
