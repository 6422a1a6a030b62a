"""The HTTP surface: /slack/events (Bolt), /ingest (reports), /v1/metrics and /v1/logs
(OpenTelemetry), /webhooks/<source> (GitHub, GitLab, PagerDuty), /healthz.

A plain WSGI callable served by waitress; the Slack path is Bolt's own WSGI adapter.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

import redis
from slack_bolt import App

from bot.deps import Deps
from bot.directory import LookupUnavailable
from bot.http_body import BodyError, declared_length, read_body
from bot.http_server import Server
from bot.ingest import (
    BadBatch,
    ScoresRebuilding,
    content_type_problem,
    ingest_events,
    parse_batch,
)
from bot.otlp_http import handle as handle_otlp
from bot.ratelimit import retry_after
from bot.slack_guard import ReplayGuard, SlackGuard
from bot.webhook_http import route as webhook_route

log = logging.getLogger(__name__)
StartResponse = Callable[..., Any]
REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
           405: "Method Not Allowed", 413: "Payload Too Large", 415: "Unsupported Media Type",
           429: "Too Many Requests", 503: "Service Unavailable"}
__all__ = ["Server", "WebApp"]


class WebApp:
    def __init__(self, deps: Deps, bolt_app: App | None) -> None:
        self.deps = deps
        settings, store = deps.settings, deps.store
        self.slack = None
        if bolt_app is not None:
            self.slack = SlackGuard(bolt_app, settings.slack_signing_secret,
                                    settings.slack_max_body_bytes,
                                    ReplayGuard(store.r, store.keys))

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "/slack/events" and self.slack is not None:
            if method != "POST":
                return self._json(start_response, 405, {"error": "use POST"})
            return self.slack(environ, start_response)
        if path == "/ingest":
            if method != "POST":
                return self._json(start_response, 405, {"error": "use POST"})
            status, body, headers = self.ingest(environ)
            return self._json(start_response, status, body, headers)
        if path in ("/v1/metrics", "/v1/logs"):
            if method != "POST":
                return self._json(start_response, 405, {"error": "use POST"})
            status, data, headers = handle_otlp(self.deps, environ, path[4:])
            return self._raw(start_response, status, data, headers)
        if path.startswith("/webhooks/"):
            handler = webhook_route(path)
            if handler is None:
                return self._json(start_response, 404, {"error": f"no webhook source at {path}"})
            if method != "POST":
                return self._json(start_response, 405, {"error": "use POST"})
            status, body, headers = handler(self.deps, environ)
            return self._json(start_response, status, body, headers)
        if path == "/healthz":
            ok = self.deps.store.ping()
            return self._json(start_response, 200 if ok else 503,
                              {"ok": ok, "redis": "up" if ok else "down"})
        return self._json(start_response, 404, {"error": f"no route for {method} {path}"})

    def ingest(self, environ: dict) -> tuple[int, dict, list[tuple[str, str]]]:
        try:
            # the token decides the workspace: its reports are counted there and nowhere else
            deps, sender, rate = self.deps.for_sender(environ.get("HTTP_AUTHORIZATION", ""))
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            log.warning("ingest: Redis unavailable: %s", exc)
            return 503, {"error": "storage unavailable; retry"}, [("Retry-After", "5")]
        if sender is None:
            return 401, {"error": "missing, wrong or revoked bearer token (INGEST_TOKENS or "
                                  "`tokenboard tokens create`)"}, [
                ("WWW-Authenticate", 'Bearer realm="tokenboard"')]
        limited = self.rate_limited(deps, sender, rate)
        if limited is not None:
            return limited
        try:
            length = declared_length(environ, deps.settings.max_body_bytes)
        except BodyError as exc:
            return exc.status, {"error": exc.message}, []
        unsupported = content_type_problem(environ.get("CONTENT_TYPE", ""))
        if unsupported:
            return 415, {"error": unsupported}, []
        body = read_body(environ, length)
        try:
            events = parse_batch(body)
            result = ingest_events(deps.store, deps.identities, events, sender=sender)
        except ScoresRebuilding:
            message = ("scores are being rebuilt after a configuration change; retry the whole "
                       "batch shortly (no event is counted twice)")
            return 503, {"error": message}, [("Retry-After", "30")]
        except LookupUnavailable as exc:
            log.warning("ingest: email lookup unavailable: %s", exc)
            message = (f"cannot map emails to Slack users right now ({exc}); retry the whole "
                       "batch (nothing in it was counted)")
            return 503, {"error": message}, [("Retry-After", str(exc.retry_after))]
        except BadBatch as exc:
            return (413 if exc.too_large else 400), {"error": str(exc)}, []
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            log.warning("ingest: Redis unavailable: %s", exc)
            message = "storage unavailable; retry the whole batch (no event is counted twice)"
            return 503, {"error": message}, [("Retry-After", "5")]
        deps.store.heard("ingest")
        return 200, result.as_dict(), []

    @staticmethod
    def rate_limited(deps: Deps, sender: str, per_minute: int | None = None
                     ) -> tuple[int, dict, list[tuple[str, str]]] | None:
        """The 429 (or 503) answer when `sender` (of `deps`' workspace) is over its rate
        (its token's own, else INGEST_RATE_LIMIT), else None."""
        limiter = deps.limiter
        if limiter is None:
            return None
        try:
            wait = limiter.check(sender, per_minute)
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            log.warning("ingest: Redis unavailable: %s", exc)
            return 503, {"error": "storage unavailable; retry"}, [("Retry-After", "5")]
        if wait is None:
            return None
        seconds = retry_after(wait)
        limit = limiter.per_minute if per_minute is None else per_minute
        return 429, {"error": f"sender {sender!r} is over {limit} requests "
                              f"a minute; retry in {seconds} s"}, [("Retry-After", str(seconds))]

    @staticmethod
    def _raw(start_response: StartResponse, status: int, data: bytes,
             headers: list[tuple[str, str]]) -> list[bytes]:
        start_response(f"{status} {REASONS.get(status, '')}",
                       headers + [("Content-Length", str(len(data)))])
        return [data]

    @staticmethod
    def _json(start_response: StartResponse, status: int, body: dict,
              headers: list[tuple[str, str]] | None = None) -> list[bytes]:
        data = json.dumps(body).encode()
        start_response(f"{status} {REASONS.get(status, '')}",
                       [("Content-Type", "application/json"),
                        ("Content-Length", str(len(data)))] + (headers or []))
        return [data]
