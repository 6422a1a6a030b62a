"""The HTTP surface, a Flask app behind `ReportFirst`: /slack/events (Bolt, through its
Flask adapter, behind the Slack request guard), /slack/install and /slack/oauth_redirect
(Bolt's OAuth flow, when installed from "Add to Slack"), /ingest (reports), /v1/metrics
and /v1/logs (OpenTelemetry), /webhooks/<source> (GitHub, GitLab, PagerDuty), /healthz.

Served by gunicorn (`bot.web.server`). The report routes (`bot.web.ingest_route`,
`otlp_routes`, `webhook_routes`) go through one report edge (`bot.web.edge`) and read only
the WSGI environ, so they and each wire format's module stay free of Flask: a `POST` to one
of them is answered by `ReportFirst` without going through Flask's request handling (the
busiest requests by far); everything else, those routes' other methods included, is
Flask's.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from flask import Flask, Response, request
from slack_bolt import App
from slack_bolt.adapter.flask import SlackRequestHandler
from werkzeug.exceptions import MethodNotAllowed, NotFound

from bot.runtime.deps import Deps
from bot.web.edge import Answer, ReportRoute, json_answer, serve
from bot.web.ingest_route import IngestRoute
from bot.web.otlp_routes import OtlpRoute
from bot.web.slack_guard import ReplayGuard, SlackGuard
from bot.web.webhook_routes import SOURCES, WebhookRoute

log = logging.getLogger(__name__)
ANY = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def build_web_app(deps: Deps, bolt_app: App | None) -> ReportFirst:
    """The WSGI app; `bolt_app` None leaves out /slack/events (Socket Mode)."""
    routes = Routes(deps, bolt_app)
    return ReportFirst(build_flask_app(routes, bolt_app), routes)


def build_flask_app(routes: Routes, bolt_app: App | None) -> Flask:
    """The Flask app behind `ReportFirst` (every route, the report routes included)."""
    web = Flask("tokenboard")
    if routes.slack is not None:
        web.add_url_rule("/slack/events", "slack", methods=["POST"],
                         view_func=lambda: routes.slack(request))
    if bolt_app is not None and bolt_app.oauth_flow is not None:  # "Add to Slack"
        flow, adapter = bolt_app.oauth_flow, SlackRequestHandler(bolt_app)
        for path in (flow.install_path, flow.redirect_uri_path):
            web.add_url_rule(path, path, methods=["GET"],
                             view_func=lambda: adapter.handle(request))
    for path in routes.report:  # one table with ReportFirst's
        if not path.startswith("/webhooks/"):
            web.add_url_rule(path, path, methods=["POST"], view_func=routes.report_view)
    web.add_url_rule("/webhooks/<source>", "webhooks", methods=ANY, view_func=routes.webhook)
    web.add_url_rule("/healthz", "healthz", methods=ANY, view_func=routes.healthz)
    web.register_error_handler(NotFound, lambda _exc: json_response(
        404, {"error": f"no route for {request.method} {request.path}"}))
    web.register_error_handler(MethodNotAllowed, lambda _exc: json_response(
        405, {"error": "use POST"}))
    return web


def json_response(status: int, body: dict) -> Response:
    return Response(json.dumps(body), status, mimetype="application/json")


class Routes:
    """The views: the report routes through the report edge (`bot.web.edge`), each with
    its own wire format's decoder and answers."""

    def __init__(self, deps: Deps, bolt_app: App | None) -> None:
        self.deps = deps
        settings, store = deps.settings, deps.store
        self.slack = None
        if bolt_app is not None:
            self.slack = SlackGuard(bolt_app, settings.slack_signing_secret,
                                    settings.slack_max_body_bytes,
                                    ReplayGuard(store))
        # every report route by its path, built once: Flask's rules and ReportFirst's
        # lookups both come from here
        self.report: dict[str, ReportRoute[Any, Any]] = {
            "/ingest": IngestRoute(),
            **{f"/v1/{signal}": OtlpRoute(signal) for signal in ("metrics", "logs")},
            **{f"/webhooks/{source}": WebhookRoute(source) for source in SOURCES}}

    def report_view(self) -> Response:
        return respond(serve(self.report[request.path], self.deps, request.environ))

    def webhook(self, source: str) -> Response:
        if request.path not in self.report:
            return json_response(404, {"error": f"no webhook source at {request.path}"})
        if request.method != "POST":
            return json_response(405, {"error": "use POST"})
        return self.report_view()

    def healthz(self) -> Response:
        ok = self.deps.store.ping()
        return json_response(200 if ok else 503, {"ok": ok, "redis": "up" if ok else "down",
                                                "pid": os.getpid()})


class ReportFirst:
    """WSGI: a `POST` to a report route is served by the report edge directly (the
    same answer as Flask's view of that route, but for a crash: a JSON 500 here);
    every other request goes to `flask`."""

    def __init__(self, flask: Flask, routes: Routes) -> None:
        self.flask = flask
        self.routes = routes

    def route_for(self, environ: dict[str, Any]) -> ReportRoute[Any, Any] | None:
        """The report route a request goes to directly, or None (Flask's)."""
        if environ.get("REQUEST_METHOD") != "POST":
            return None
        return self.routes.report.get(environ.get("PATH_INFO", ""))

    def __call__(self, environ: dict[str, Any],
                 start_response: Callable[..., Any]) -> Iterable[bytes]:
        route = self.route_for(environ)
        if route is None:
            return self.flask(environ, start_response)
        try:
            status, body, headers = serve(route, self.routes.deps, environ)
        except Exception:  # as Flask would: logged, and a 500 that says so
            log.exception("%s %s failed", environ.get("REQUEST_METHOD"),
                          environ.get("PATH_INFO"))
            status, body, headers = json_answer(500, {"error": "internal error; retry"})
        start_response(f"{status} {HTTPStatus(status).phrase}",
                       [*headers, ("Content-Length", str(len(body)))])
        return [body]


def respond(answer: Answer) -> Response:
    """A report route's answer as a Flask Response."""
    status, body, headers = answer
    return Response(body, status, headers=headers)
