"""`tokenboard serve`: the long-running process: Slack (HTTP or Socket Mode), /ingest,
/healthz, and the digest scheduler."""

from __future__ import annotations

import logging
import signal
import threading

from bot.app import build_bolt_app, build_client, build_deps
from bot.settings import Settings, SettingsError
from bot.startup import check_bot_token, forget_slack_secrets
from bot.web import Server, WebApp

log = logging.getLogger(__name__)
SHUTDOWN_GRACE = 10.0  # seconds requests in flight may take to finish after SIGTERM


def serve(settings: Settings) -> int:
    settings.require("SLACK_BOT_TOKEN")
    if not settings.slack_app_token:
        settings.require("SLACK_SIGNING_SECRET")
    if settings.slack_app_token and not settings.slack_app_token.startswith("xapp-"):
        raise SettingsError("SLACK_APP_TOKEN must be an app-level token starting with xapp-")
    forget_slack_secrets()  # Settings holds them; Bolt must not read them again (startup.py)
    client = build_client(settings)
    assert client is not None  # SLACK_BOT_TOKEN is set
    check_bot_token(client)  # a refused token stops here, before Redis or the port
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

    stop_logs: list[threading.Thread] = []

    def stop(signum: int, _frame: object) -> None:
        server.request_stop()
        # Not logged here: the signal may arrive while the main thread is writing a log
        # line to stderr, and writing again from the handler raises "reentrant call".
        said = threading.Thread(target=log.info, name="stop-log", daemon=True, args=(
            "%s: finishing requests in flight (at most %.0f s), then stopping",
            signal.Signals(signum).name, SHUTDOWN_GRACE))
        said.start()
        stop_logs.append(said)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    slack = "" if socket_handler else "POST /slack/events, "
    log.info("listening on port %s: %sPOST /ingest, POST /v1/metrics, POST /v1/logs, "
             "POST /webhooks/{github,gitlab,pagerduty}, GET /healthz", server.port, slack)
    try:
        server.run()
        for said in stop_logs:
            said.join(timeout=1)
        log.info("stopped")
    finally:
        scheduler.stop()
        if socket_handler:
            socket_handler.close()
        deps.close()
    return 0
