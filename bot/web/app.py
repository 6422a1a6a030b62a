"""The HTTP surface, a Flask app: /slack/events (Bolt, through its Flask adapter, behind
the Slack request guard), /slack/install and /slack/oauth_redirect (Bolt's OAuth flow,
when installed from "Add to Slack"), /ingest (reports), /v1/metrics and /v1/logs (OpenTelemetry),
/webhooks/<source> (GitHub, GitLab, PagerDuty), /healthz.

Served by gunicorn (`bot.web.server`). The report routes read the WSGI environ
(`request.environ`), so each wire format's module stays free of Flask.
"""

from __future__ import annotations

import json
import logging
import os

import redis
from flask import Flask, Response, request
from slack_bolt import App
from slack_bolt.adapter.flask import SlackRequestHandler
from werkzeug.exceptions import MethodNotAllowed, NotFound

from bot.intake.ingest import (
    BadBatch,
    ScoringChanged,
    content_type_problem,
    ingest_events,
    parse_batch,
)
from bot.runtime.deps import Deps
from bot.slack.directory import LookupUnavailable
from bot.store.ratelimit import retry_after_header
from bot.web.body import BodyError, declared_length, read_body
from bot.web.otlp_routes import handle as handle_otlp
from bot.web.slack_guard import ReplayGuard, SlackGuard
from bot.web.webhook_routes import route as webhook_route

log = logging.getLogger(__name__)
ANY = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def build_web_app(deps: Deps, bolt_app: App | None) -> Flask:
    """The Flask app; `bolt_app` None leaves out /slack/events (Socket Mode)."""
    routes = Routes(deps, bolt_app)
    web = Flask("tokenboard")
    if routes.slack is not None:
        web.add_url_rule("/slack/events", "slack", methods=["POST"],
                         view_func=lambda: routes.slack(request))
    if bolt_app is not None and bolt_app.oauth_flow is not None:  # "Add to Slack"
        flow, adapter = bolt_app.oauth_flow, SlackRequestHandler(bolt_app)
        for path in (flow.install_path, flow.redirect_uri_path):
            web.add_url_rule(path, path, methods=["GET"],
                             view_func=lambda: adapter.handle(request))
    web.add_url_rule("/ingest", "ingest", methods=["POST"], view_func=routes.ingest_view)
    web.add_url_rule("/v1/<any(metrics, logs):signal>", "otlp", methods=["POST"],
                     view_func=routes.otlp)
    web.add_url_rule("/webhooks/<source>", "webhooks", methods=ANY, view_func=routes.webhook)
    web.add_url_rule("/healthz", "healthz", methods=ANY, view_func=routes.healthz)
    web.register_error_handler(NotFound, lambda _exc: json_answer(
        404, {"error": f"no route for {request.method} {request.path}"}))
    web.register_error_handler(MethodNotAllowed, lambda _exc: json_answer(
        405, {"error": "use POST"}))
    return web


def json_answer(status: int, body: dict, headers: list[tuple[str, str]] | None = None
                ) -> Response:
    return Response(json.dumps(body), status, headers=headers or [],
                    mimetype="application/json")


class Routes:
    """The views: each answers from the WSGI environ through its wire format's module."""

    def __init__(self, deps: Deps, bolt_app: App | None) -> None:
        self.deps = deps
        settings, store = deps.settings, deps.store
        self.slack = None
        if bolt_app is not None:
            self.slack = SlackGuard(bolt_app, settings.slack_signing_secret,
                                    settings.slack_max_body_bytes,
                                    ReplayGuard(store))

    def ingest_view(self) -> Response:
        return json_answer(*self.ingest(request.environ))

    def otlp(self, signal: str) -> Response:
        status, data, headers = handle_otlp(self.deps, request.environ, signal)
        return Response(data, status, headers=headers)

    def webhook(self, source: str) -> Response:
        handler = webhook_route(request.path)
        if handler is None:
            return json_answer(404, {"error": f"no webhook source at {request.path}"})
        if request.method != "POST":
            return json_answer(405, {"error": "use POST"})
        return json_answer(*handler(self.deps, request.environ))

    def healthz(self) -> Response:
        ok = self.deps.store.ping()
        return json_answer(200 if ok else 503, {"ok": ok, "redis": "up" if ok else "down",
                                                "pid": os.getpid()})

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
        except ScoringChanged:
            message = ("the scoring configuration changed several times while this batch was "
                       "counted; retry the whole batch (no event is counted twice)")
            return 503, {"error": message}, [("Retry-After", "5")]
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
        deps.store.heard.mark("ingest")
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
        seconds = retry_after_header(wait)
        limit = limiter.per_minute if per_minute is None else per_minute
        return 429, {"error": f"sender {sender!r} is over {limit} requests "
                              f"a minute; retry in {seconds} s"}, [("Retry-After", str(seconds))]
