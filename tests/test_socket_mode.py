"""Socket Mode end to end: `apps.connections.open` on the Slack stub hands out the URL of
a local WebSocket server playing Slack's side, which sends a `/leaderboard` command and an
`app_home_opened` event as Slack's envelopes; the app acks each envelope and its answers
reach Slack (the board at the response_url, the Home tab through views.publish)."""

from __future__ import annotations

import json
import threading
from urllib.parse import parse_qsl

import pytest
from websockets.sync.server import ServerConnection, serve

from bot.runtime.serve import socket_mode
from tests.conftest import App
from tests.slack_signing import APP_ID, event_body, slash_command_body
from tests.support.polling import wait_for
from tests.support.slack_app import seed

pytestmark = pytest.mark.slow  # starts the app's HTTP server

APP_TOKEN = "xapp-1-A0TEST-1-socket"


def envelopes(response_url: str) -> list[dict]:
    """What Slack sends over the socket after `hello`: a slash command, then an event."""
    command = dict(parse_qsl(slash_command_body(text="today", user_id="U0SOCK",
                                                response_url=response_url)))
    home = {"type": "app_home_opened", "user": "U0SOCK", "channel": "D0SOCK", "tab": "home",
            "event_ts": "1732440000.000400"}
    return [
        {"envelope_id": "env-command", "type": "slash_commands", "payload": command,
         "accepts_response_payload": True},
        {"envelope_id": "env-home", "type": "events_api",
         "payload": json.loads(event_body(home, event_id="EvSOCK")),
         "accepts_response_payload": False, "retry_attempt": 0, "retry_reason": ""},
    ]


def test_socket_mode_acks_and_answers_a_command_and_an_event(app: App) -> None:
    people = {"U0SOCK": (4000, 1), "U0OTHER": (9000, 0)}
    for user in people:
        app.stub.add_user(user, display_name=f"name-{user}")
    seed(app, people)
    acks: list[dict] = []
    sent = envelopes(app.stub.response_url("socket"))

    def slack_side(ws: ServerConnection) -> None:
        ws.send(json.dumps({"type": "hello", "num_connections": 1,
                            "connection_info": {"app_id": APP_ID}}))
        for envelope in sent:
            ws.send(json.dumps(envelope))
        for message in ws:  # until the app closes the connection
            acks.append(json.loads(message))

    with serve(slack_side, "127.0.0.1", 0) as server:
        threading.Thread(target=server.serve_forever, daemon=True, name="ws").start()
        port = server.socket.getsockname()[1]
        app.stub.socket_mode(APP_TOKEN, f"ws://127.0.0.1:{port}/link/?ticket=t-1")
        handler = socket_mode(app.bolt, APP_TOKEN)
        try:
            wait_for(lambda: {a.get("envelope_id") for a in acks} >= {"env-command",
                                                                       "env-home"}, 15)
            board = wait_for(lambda: app.stub.responses("socket"), 15)[0]
            home = wait_for(lambda: app.stub.calls("views.publish"), 15)[0]
        finally:
            handler.close()
            server.shutdown()
    # apps.connections.open was asked with the app-level token, not the bot's
    opened = app.stub.calls("apps.connections.open")
    assert [c.headers.get("authorization") for c in opened][:1] == [f"Bearer {APP_TOKEN}"]
    # each envelope acked exactly once, by its id
    assert sorted(a["envelope_id"] for a in acks) == ["env-command", "env-home"]
    # the board reached the response_url, with both people on it
    text = json.dumps(board, ensure_ascii=False)
    assert board.get("response_type") == "ephemeral"
    assert all(f"name-{user}" in text for user in people), text
    # the event published the viewer's Home tab
    assert home.args["user_id"] == "U0SOCK"
    view = home.args["view"] if isinstance(home.args["view"], dict) \
        else json.loads(home.args["view"])
    assert view["type"] == "home"
