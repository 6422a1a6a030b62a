"""`ReportFirst` (bot/web/app.py): a POST to a report route is answered by the report edge
without Flask, with the same status, body and content type Flask's route gives for the
same request on the same data; everything else still goes to Flask."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
from werkzeug.test import Client

from bot.core.periods import ALL
from bot.core.settings import Settings
from bot.runtime.app import build_deps
from bot.runtime.deps import Deps
from bot.web.app import ReportFirst, build_web_app
from tests.conftest import INGEST_TOKEN
from tests.support.otlp_exports import export

AUTH = {"Authorization": f"Bearer {INGEST_TOKEN}"}
PROTO = "application/x-protobuf"
NOW = datetime.now(UTC).isoformat()
BATCH = json.dumps({"events": [
    {"type": "usage", "id": "u1", "user": "U0ANA", "ts": NOW, "tokens": 1200,
     "tool": "claude_code"},
    {"type": "usage", "id": "u2", "user": "U0BO", "ts": NOW, "tokens": 30, "cost_usd": 0.25,
     "tool": "cursor"},
    {"type": "outcome", "id": "o1", "user": "U0ANA", "ts": NOW, "kind": "pr_merged"},
    {"type": "usage", "id": "bad", "user": "U0BO", "ts": NOW, "tokens": -5,
     "tool": "cursor"}]}).encode()

# (method, path, body, headers): every kind of answer of every report route
REQUESTS: list[tuple[str, str, bytes, dict[str, str]]] = [
    ("POST", "/ingest", BATCH, {**AUTH, "Content-Type": "application/json"}),
    ("POST", "/ingest", b"{not json", {**AUTH, "Content-Type": "application/json"}),
    ("POST", "/ingest", BATCH, {"Content-Type": "application/json"}),
    ("POST", "/ingest", BATCH, {**AUTH, "Content-Type": "text/csv"}),
    ("POST", "/v1/metrics", export("ana@example.com", 1), {**AUTH, "Content-Type": PROTO}),
    ("POST", "/v1/metrics", b"\xff\xfe garbage", {**AUTH, "Content-Type": PROTO}),
    ("POST", "/v1/logs", b"{}", {**AUTH, "Content-Type": "application/json"}),
    ("POST", "/v1/metrics", b"{}", {**AUTH, "Content-Type": "text/plain"}),
    ("POST", "/webhooks/github", b"{}", {"X-GitHub-Event": "ping"}),
]


def fresh_deps(settings: Settings, client: redis.Redis) -> Deps:
    """A process's Deps (empty caches) on `client`, with one linked email."""
    deps = build_deps(settings, client)
    deps.store.identity_map.link("email:ana@example.com", "U0ANA")
    return deps


@pytest.fixture
def deps(settings: Settings, redis_client: redis.Redis) -> Iterator[Deps]:
    yield fresh_deps(settings, redis_client)


def stored(client: redis.Redis) -> dict[bytes, object]:
    """Every key and what it holds (only the type of those holding times or random
    versions), but for what a process notes at most once a minute (the source heard
    from, the token's last use)."""
    read = {b"zset": lambda k: client.zrange(k, 0, -1, withscores=True),
            b"hash": client.hgetall, b"set": client.smembers, b"string": client.get,
            b"list": lambda k: client.lrange(k, 0, -1)}
    def held(key: bytes) -> object:
        kind = client.type(key)  # a rate's arrival time and cache versions: times, random
        return kind if b":rate:" in key or key.endswith(b"version") else read[kind](key)

    return {key: held(key) for key in client.keys()
            if not key.endswith((b":heard", b":tokens:used"))}


class Recording:
    """A stand-in for the Flask app that records what reached it."""

    def __init__(self, flask: Any) -> None:
        self.flask, self.paths = flask, []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        self.paths.append((environ["REQUEST_METHOD"], environ["PATH_INFO"]))
        return self.flask(environ, start_response)


def answer(app: Any, method: str, path: str, body: bytes,
           headers: dict[str, str]) -> tuple[int, bytes, str]:
    response = Client(app).open(path, method=method, data=body, headers=headers)
    return response.status_code, response.get_data(), response.headers.get("Content-Type")


@pytest.mark.parametrize(("method", "path", "body", "headers"), REQUESTS,
                         ids=[f"{m} {p} {i}" for i, (m, p, _, _) in enumerate(REQUESTS)])
def test_a_report_is_answered_as_flask_answers_it_without_flask(
        deps: Deps, settings: Settings, redis_client: redis.Redis, method: str, path: str,
        body: bytes, headers: dict[str, str]) -> None:
    app = build_web_app(deps, None)
    assert isinstance(app, ReportFirst)
    recording = app.flask = Recording(app.flask)
    direct = answer(app, method, path, body, headers)
    assert recording.paths == []  # Flask never saw it
    counted = stored(redis_client)

    # the same request on the same data, through Flask's own route in another process
    redis_client.flushdb()
    flask = build_web_app(fresh_deps(settings, redis_client), None).flask
    through_flask = answer(flask, method, path, body, headers)
    assert direct == through_flask
    assert stored(redis_client) == counted


def test_the_answer_is_what_was_counted(deps: Deps) -> None:
    status, body, kind = answer(build_web_app(deps, None), *REQUESTS[0][:2], BATCH,
                                REQUESTS[0][3])
    assert (status, kind) == (200, "application/json")
    sent = json.loads(BATCH)["events"]
    assert json.loads(body)["accepted"] == len(sent) - 1  # the one with negative tokens
    assert deps.store.r.zscore(deps.store.keys.board("tokens", ALL), "U0ANA") == 1200


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/ingest", 405), ("GET", "/v1/metrics", 405), ("POST", "/nowhere", 404),
    ("POST", "/webhooks/nosuch", 404), ("GET", "/healthz", 200)])
def test_everything_else_goes_to_flask(deps: Deps, method: str, path: str,
                                       status: int) -> None:
    app = build_web_app(deps, None)
    recording = app.flask = Recording(app.flask)
    got, body, kind = answer(app, method, path, b"", {})
    assert recording.paths == [(method, path)]
    assert got == status and kind == "application/json" and json.loads(body)


def test_a_route_that_fails_answers_500_and_says_so(
        deps: Deps, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    app = build_web_app(deps, None)

    def broken(*_args: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(app.routes.report["/ingest"], "decode", broken)
    status, body, kind = answer(app, *REQUESTS[0][:2], BATCH, REQUESTS[0][3])
    assert (status, kind) == (500, "application/json")
    assert json.loads(body) == {"error": "internal error; retry"}
    assert "POST /ingest failed" in caplog.text and "boom" in caplog.text
