"""`tokenboard serve`: the long-running process: Slack (HTTP or Socket Mode), /ingest,
/healthz, and the digest scheduler."""

from __future__ import annotations

import logging
import signal
import threading

from bot.app import build_bolt_app, build_deps
from bot.settings import Settings, SettingsError
from bot.web import Server, WebApp

log = logging.getLogger(__name__)
SHUTDOWN_GRACE = 10.0  # seconds requests in flight may take to finish after SIGTERM


def serve(settings: Settings) -> int:
    settings.require("SLACK_BOT_TOKEN")
    if not settings.slack_app_token:
        settings.require("SLACK_SIGNING_SECRET")
    if settings.slack_app_token and not settings.slack_app_token.startswith("xapp-"):
        raise SettingsError("SLACK_APP_TOKEN must be an app-level token starting with xapp-")
    deps = build_deps(settings)
    app = build_bolt_app(deps)
    socket_handler = None
    if settings.slack_app_token:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        socket_handler = SocketModeHandler(app, settings.slack_app_token)
        socket_handler.connect()
        log.info("connected to Slack over Socket Mode")
    from bot.admin import rebuild_scores
    from jobs.scheduler import DigestScheduler

    # A rescore interrupted by a crash (or saved while none could run) is finished here.
    threading.Thread(target=rebuild_scores, args=(deps.store,), daemon=True,
                     name="rescore").start()
    scheduler = DigestScheduler(deps).start()
    server = Server(WebApp(deps, None if socket_handler else app), host="0.0.0.0",
                    port=settings.port, connection_limit=settings.http_connection_limit,
                    idle_timeout=settings.http_idle_timeout,
                    max_body=max(settings.max_body_bytes, settings.slack_max_body_bytes,
                                 settings.otlp_max_bytes),
                    grace=SHUTDOWN_GRACE)

    def stop(signum: int, _frame: object) -> None:
        log.info("%s: finishing requests in flight (at most %.0f s), then stopping",
                 signal.Signals(signum).name, SHUTDOWN_GRACE)
        server.request_stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("listening on port %s: POST /slack/events, POST /ingest, GET /healthz",
             server.port)
    try:
        server.run()
        log.info("stopped")
    finally:
        scheduler.stop()
        if socket_handler:
            socket_handler.close()
        deps.close()
    return 0
