"""The yardstick for slash-command acks: a Bolt app whose /leaderboard listener only calls
ack(), served on PORT the way `tokenboard serve` serves ours, with the same signing secret
and Slack API URL (environment variables as for `tokenboard serve`).

    PORT=3001 SLACK_SIGNING_SECRET=... SLACK_API_URL=... .venv/bin/python -m bench.ack_only
"""

from __future__ import annotations

import os

from slack_bolt import Ack, App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient

from bot.web.server import Limits, WebServer


def ack_only_app() -> App:
    app = App(client=WebClient(token=os.environ["SLACK_BOT_TOKEN"],
                               base_url=os.environ["SLACK_API_URL"]),
              signing_secret=os.environ["SLACK_SIGNING_SECRET"],
              token_verification_enabled=False)

    @app.command("/leaderboard")
    def ack_only(ack: Ack) -> None:
        ack()

    return app


def wsgi_app():  # noqa: ANN201 - a WSGI callable
    handler = SlackRequestHandler(ack_only_app())

    def app(environ, start_response):  # noqa: ANN001, ANN202
        if environ.get("PATH_INFO") == "/healthz":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok"]
        return handler(environ, start_response)

    return app


def main() -> None:
    """gunicorn with the worker processes, threads and worker class `tokenboard serve`
    uses (WEB_CONCURRENCY, default one per core; WEB_THREADS, default 8)."""
    limits = Limits(workers=int(os.environ.get("WEB_CONCURRENCY") or os.cpu_count() or 1),
                    threads=int(os.environ.get("WEB_THREADS") or 8))
    WebServer(wsgi_app, f"127.0.0.1:{os.environ['PORT']}", limits).run()


if __name__ == "__main__":
    main()
