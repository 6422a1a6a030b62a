"""Local stand-ins for the vendors' admin APIs, speaking their documented formats at
the network edge: Claude Code Analytics, GitHub Copilot usage metrics (with NDJSON
downloads from signed URLs), Cursor Admin and OpenAI Usage.

Each records its requests and can be told to fail: `fail(match, status, times,
retry_after)` answers `status` to the next `times` requests whose path and query contain
`match`.
A stub given a `clock` (a fake one, in tests of pacing) stamps each request with it.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    headers: dict[str, str]
    at: float = 0.0  # the stub's clock when the request came


@dataclass
class Fault:
    match: str
    status: int
    times: int
    retry_after: str | None = None


@dataclass
class Answer:
    status: int = 200
    body: Any = None
    text: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


class VendorStub:
    def __init__(self) -> None:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                stub._serve(self, "GET")

            def do_POST(self) -> None:
                stub._serve(self, "POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.requests: list[Seen] = []
        self.faults: list[Fault] = []
        self.clock: Callable[[], float] | None = None
        self.lock = threading.Lock()
        threading.Thread(target=self.server.serve_forever,  # fast shutdown() in fixtures
                         kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def fail(self, match: str, status: int, times: int = 1,
             retry_after: str | None = None) -> None:
        self.faults.append(Fault(match, status, times, retry_after))

    def seen(self, path_part: str) -> list[Seen]:
        return [r for r in self.requests if path_part in r.path]

    def _serve(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        seen = Seen(method, parts.path, query, body, dict(handler.headers.items()),
                    self.clock() if self.clock else 0.0)
        with self.lock:
            self.requests.append(seen)
            answer = None
            for fault in self.faults:
                if fault.times > 0 and fault.match in handler.path:
                    fault.times -= 1
                    headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                    answer = Answer(fault.status, {"error": "stub fault"}, headers=headers)
                    break
        if answer is None:
            try:
                answer = self.route(seen)
            except PermissionError as exc:
                answer = Answer(401, {"error": str(exc)})
        data = (answer.text if answer.text is not None else json.dumps(answer.body)).encode()
        handler.send_response(answer.status)
        for name, value in answer.headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def route(self, seen: Seen) -> Answer:
        raise NotImplementedError


def ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


class ClaudeStub(VendorStub):
    """`data`: day → records (as the API returns them); pages of `page_size`."""

    def __init__(self, key: str, page_size: int = 2) -> None:
        super().__init__()
        self.key, self.page_size = key, page_size
        self.data: dict[date, list[dict]] = {}

    def route(self, seen: Seen) -> Answer:
        if seen.headers.get("x-api-key") != self.key:
            raise PermissionError("bad x-api-key")
        assert seen.headers.get("anthropic-version") == "2023-06-01"
        assert seen.path == "/v1/organizations/usage_report/claude_code"
        records = self.data.get(date.fromisoformat(seen.query["starting_at"]), [])
        size = min(self.page_size, int(seen.query.get("limit", 20)))
        start = int(seen.query.get("page", 0))
        more = start + size < len(records)
        return Answer(body={"data": records[start:start + size], "has_more": more,
                            "next_page": str(start + size) if more else None})


class CopilotStub(VendorStub):
    """`data`: day → NDJSON records, split over `files` download links per day. A day in
    `missing` has no report: 404, as GitHub answers it; so is an unknown organization."""

    def __init__(self, token: str, org: str, files: int = 2) -> None:
        super().__init__()
        self.token, self.org, self.files = token, org, files
        self.data: dict[date, list[dict]] = {}
        self.missing: set[date] = set()

    def route(self, seen: Seen) -> Answer:
        if seen.path.startswith("/download/"):
            assert "Authorization" not in seen.headers and "authorization" not in seen.headers
            _, _, day, number = seen.path.split("/")
            records = self.data.get(date.fromisoformat(day), [])[int(number)::self.files]
            return Answer(text="".join(json.dumps(r) + "\n" for r in records))
        if seen.headers.get("Authorization") != f"Bearer {self.token}":
            raise PermissionError("Bad credentials")
        not_found = Answer(404, {"message": "Not Found", "documentation_url":
                                 "https://docs.github.com/rest", "status": "404"})
        if seen.path == f"/orgs/{self.org}":
            return Answer(body={"login": self.org, "id": 1})
        if seen.path != f"/orgs/{self.org}/copilot/metrics/reports/users-1-day":
            return not_found
        day = seen.query["day"]
        if date.fromisoformat(day) in self.missing:
            return not_found
        return Answer(body={"download_links": [f"{self.url}/download/{day}/{n}?sig=x"
                                               for n in range(self.files)],
                            "report_day": day})


class CursorStub(VendorStub):
    """`daily`: daily-usage-data records; `events`: usage events; events pages of
    `page_size` (whatever pageSize asks)."""

    def __init__(self, key: str, page_size: int = 3) -> None:
        super().__init__()
        self.key, self.page_size = key, page_size
        self.daily: list[dict] = []
        self.events: list[dict] = []

    def route(self, seen: Seen) -> Answer:
        auth = seen.headers.get("Authorization", "")
        if auth != "Basic " + base64.b64encode(f"{self.key}:".encode()).decode():
            raise PermissionError("bad key")
        start, end = seen.body["startDate"], seen.body["endDate"]
        assert end - start <= 30 * 86_400_000, "at most 30 days"
        if seen.path == "/teams/daily-usage-data":
            return Answer(body={"data": [r for r in self.daily if start <= r["date"] <= end],
                                "period": {"startDate": start, "endDate": end}})
        assert seen.path == "/teams/filtered-usage-events"
        events = [e for e in self.events if start <= int(e["timestamp"]) <= end]
        page = seen.body["page"]
        chunk = events[(page - 1) * self.page_size:page * self.page_size]
        pages = max(1, -(-len(events) // self.page_size))
        return Answer(body={"totalUsageEventsCount": len(events), "usageEvents": chunk,
                            "pagination": {"numPages": pages, "currentPage": page,
                                           "pageSize": self.page_size,
                                           "hasNextPage": page < pages,
                                           "hasPreviousPage": page > 1}})


class OpenAIStub(VendorStub):
    """`users`: organization users; `buckets`: day → results; pages of `page_buckets`
    buckets and users pages of `page_users`."""

    def __init__(self, key: str, page_buckets: int = 2, page_users: int = 2) -> None:
        super().__init__()
        self.key, self.page_buckets, self.page_users = key, page_buckets, page_users
        self.users: list[dict] = []
        self.buckets: dict[date, list[dict]] = {}

    def route(self, seen: Seen) -> Answer:
        if seen.headers.get("Authorization") != f"Bearer {self.key}":
            raise PermissionError("invalid admin key")
        if seen.path == "/v1/organization/users":
            ids = [u["id"] for u in self.users]
            start = ids.index(seen.query["after"]) + 1 if "after" in seen.query else 0
            page = self.users[start:start + self.page_users]
            return Answer(body={"object": "list", "data": page,
                                "first_id": page[0]["id"] if page else None,
                                "last_id": page[-1]["id"] if page else None,
                                "has_more": start + self.page_users < len(self.users)})
        assert seen.path == "/v1/organization/usage/completions"
        assert seen.query["bucket_width"] == "1d" and "user_id" in seen.query["group_by"]
        first = datetime.fromtimestamp(int(seen.query["start_time"]), UTC).date()
        last = datetime.fromtimestamp(int(seen.query["end_time"]), UTC).date()
        days = [d for d in sorted(self.buckets) if first <= d < last]
        start = int(seen.query.get("page", 0))
        size = min(self.page_buckets, int(seen.query.get("limit", 7)))
        chunk = days[start:start + size]
        more = start + size < len(days)
        return Answer(body={"object": "page", "data": [
            {"object": "bucket", "start_time": ms(d) // 1000, "end_time": ms(d) // 1000 + 86400,
             "results": self.buckets[d]} for d in chunk],
            "has_more": more, "next_page": str(start + size) if more else None})
