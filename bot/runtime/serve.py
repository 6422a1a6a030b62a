"""`tokenboard serve`: the web process: Slack (HTTP or Socket Mode), /ingest, OTLP,
webhooks and /healthz, served by gunicorn with WEB_CONCURRENCY worker processes.

The app is built once in the gunicorn master (the embedded Redis, when used, is started
there once) and the workers fork from it. The master also runs the background jobs while
no `tokenboard worker` runs (bot/runtime/worker.py; SERVE_JOBS=off never does). SIGTERM: gunicorn
stops accepting, finishes requests in flight (at most SHUTDOWN_GRACE seconds) and stops
its workers; then the jobs stop, the embedded Redis with them, and serve exits 0.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler

from bot.core.settings import Settings, SettingsError
from bot.runtime.app import build_bolt_app, build_client, build_deps, build_workspaces, second_deps
from bot.runtime.deps import Deps
from bot.runtime.layout import prepare_layouts, served_stores
from bot.runtime.worker import EmbeddedJobs
from bot.slack.startup import check_bot_token, forget_slack_secrets
from bot.web.app import build_web_app
from bot.web.server import BodyLimits, Limits, WebServer

log = logging.getLogger(__name__)
SHUTDOWN_GRACE = 10  # seconds requests in flight may take to finish after SIGTERM
# Threads per web process for Slack's work after the ack (boards, modals; Bolt's default
# is 5): with 16 people typing /leaderboard at 100,000 people, a board's p99 fell from
# 88–116 ms to 72–76 ms (docs/benchmarks.md, section 10).
LAZY_THREADS = 16


def limits(settings: Settings) -> Limits:
    """gunicorn's shape, and each route's body limit (refused before it is buffered)."""
    return Limits(workers=settings.web_concurrency or os.cpu_count() or 1,
                  threads=settings.web_threads,
                  connection_limit=settings.http_connection_limit,
                  idle_timeout=settings.http_idle_timeout,
                  body=BodyLimits.from_settings(settings),
                  grace=SHUTDOWN_GRACE)


def socket_mode(app: App, app_token: str) -> SocketModeHandler:
    """Connect `app` to Slack over Socket Mode (`apps.connections.open` with the app-level
    token, then a WebSocket); Bolt listeners then run in this process, on its threads."""
    handler = SocketModeHandler(app, app_token)
    handler.connect()
    log.info("connected to Slack over Socket Mode")
    return handler


def serve(settings: Settings) -> int:
    if settings.oauth:  # "Add to Slack": every installed workspace
        settings.require("SLACK_SIGNING_SECRET")
        if settings.slack_app_token:
            raise SettingsError("Socket Mode (SLACK_APP_TOKEN) serves one workspace: leave it "
                                "empty when installing through SLACK_CLIENT_ID")
    else:
        settings.require("SLACK_BOT_TOKEN")
    if not settings.slack_app_token:
        settings.require("SLACK_SIGNING_SECRET")
    if settings.slack_app_token and not settings.slack_app_token.startswith("xapp-"):
        raise SettingsError("SLACK_APP_TOKEN must be an app-level token starting with xapp-")
    forget_slack_secrets()  # Settings holds them; Bolt must not read them again (startup.py)
    client = build_client(settings)
    if client is not None:
        check_bot_token(client)  # a refused token stops here, before Redis or the port
    deps = build_deps(settings)
    closers: list[Callable[[], object]] = [deps.close]  # what the master closes, in reverse
    master = os.getpid()
    # Until gunicorn's master takes the signals over, SIGTERM still stops cleanly (the
    # embedded Redis with it).
    signal.signal(signal.SIGTERM, _exit_zero)
    code = 0
    try:
        # before any request or job: the storage layout is current (migrated if older)
        prepare_layouts(settings, served_stores(settings, deps.store))
        _serve(settings, deps, closers)
    except SystemExit as exc:  # gunicorn's master ends with sys.exit
        if os.getpid() != master:
            raise  # a worker process ending: the rest belongs to the master
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        if os.getpid() == master:
            for close in reversed(closers):
                close()
    log.info("stopped")
    return code


def _exit_zero(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


def _serve(settings: Settings, deps: Deps, closers: list[Callable[[], object]]) -> None:
    """Build the app, connect Socket Mode, start the jobs, then run gunicorn's master
    (which ends with SystemExit)."""
    lazy = ThreadPoolExecutor(max_workers=LAZY_THREADS, thread_name_prefix="lazy")
    workspaces = None
    if settings.oauth:
        workspaces = build_workspaces(settings, deps.store.root)
        deps.installed = workspaces.get  # reports for an installed workspace use its token
    app = build_bolt_app(workspaces or deps, lazy)
    socket_handler = socket_mode(app, settings.slack_app_token) \
        if settings.slack_app_token else None
    if socket_handler:
        closers.append(socket_handler.close)
    wsgi = build_web_app(deps, None if socket_handler else app)
    shape = limits(settings)
    slack = "" if socket_handler else "POST /slack/events, "

    def when_ready(_arbiter: Any) -> None:
        log.info("listening on port %s (%d web processes × %d threads): %sPOST /ingest, "
                 "POST /v1/metrics, POST /v1/logs, POST /webhooks/{github,gitlab,pagerduty}, "
                 "GET /healthz", settings.port, shape.workers, shape.threads, slack)

    def worker_exit(_arbiter: Any, _worker: Any) -> None:
        """A web worker whose requests are answered: let the lazy listeners of its Slack
        requests finish (the boards they post), then exit without tearing the
        interpreter down (seconds of finalization the master would wait for)."""
        lazy.shutdown(wait=True)
        logging.shutdown()
        os._exit(0)

    if settings.serve_jobs != "off":
        jobs_deps = second_deps(deps)
        jobs_workspaces = (build_workspaces(settings, jobs_deps.store.root)
                           if settings.oauth else None)
        closers.append(EmbeddedJobs(jobs_deps, workspaces=jobs_workspaces).start().stop)
    from bot.render.chart import preload  # matplotlib: imported by serve only, not the CLI

    preload()  # once here, for every worker (frozen with the rest before they fork)
    WebServer(lambda: wsgi, f"0.0.0.0:{settings.port}", shape,
              hooks={"when_ready": when_ready, "worker_exit": worker_exit}).run()
