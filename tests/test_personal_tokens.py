"""Personal tokens end to end, through the real server and the Slack stub: a person makes
their token on App Home, an OpenTelemetry export that names nobody counts for them, one
naming someone else is refused in partial_success while the rest counts, /ingest may leave
out `user`, and once revoked the token is answered 401. Totals are computed from what each
test sends."""

from __future__ import annotations

import json
import re
import time

import pytest

from bot.render.token_blocks import CREATE, REVOKE
from tests.conftest import INGEST_TOKEN, App, HttpAnswer, http
from tests.support.otlp_http import board
from tests.support.polling import wait_for
from tests.support.slack_interactions import block_actions, open_home, opened_views, publishes_for

pytestmark = pytest.mark.slow  # starts the app's HTTP server


def export(points: list[tuple[str, int, dict[str, str]]]) -> bytes:
    """An OTLP/JSON metrics export of Gemini CLI's token usage: (token type, tokens,
    identity attributes) per delta data point, timed now."""
    now = time.time_ns()

    def attrs(values: dict[str, str]) -> list[dict]:
        return [{"key": k, "value": {"stringValue": v}} for k, v in values.items()]

    return json.dumps({"resourceMetrics": [{
        "resource": {"attributes": attrs({"service.name": "gemini-cli"})},
        "scopeMetrics": [{"scope": {"name": "gemini-cli"}, "metrics": [{
            "name": "gemini_cli.token.usage",
            "sum": {"aggregationTemporality": 1, "isMonotonic": True, "dataPoints": [
                {"asInt": str(value), "startTimeUnixNano": str(now - 60 * 10**9),
                 "timeUnixNano": str(now), "attributes": attrs({"type": kind, **who})}
                for kind, value, who in points]}}]}]}]}).encode()


def send(app: App, token: str, body: bytes) -> HttpAnswer:
    return http("POST", app.url + "/v1/metrics", body,
                {"Content-Type": "application/json", "Authorization": f"Bearer {token}"})


def partial(answer: HttpAnswer) -> dict:
    return json.loads(answer.body or b"{}").get("partialSuccess", {})


def test_a_token_made_on_app_home_counts_for_its_owner_until_revoked(app: App) -> None:
    app.stub.add_user("U0ANA", display_name="Ana")
    home = open_home(app, "U0ANA", "EvAna1")
    assert "Create my token" in home and CREATE in home and REVOKE not in home

    app.slack(block_actions("U0ANA", CREATE, "create", "personal_token",
                            view={"type": "home"}))
    [modal] = wait_for(lambda: opened_views(app.stub))
    shown = json.dumps(modal)
    token = re.search(r"Bearer (tb\.[A-Za-z0-9_.-]+)", shown).group(1)
    assert "OTEL_EXPORTER_OTLP_HEADERS" in shown and "OTEL_EXPORTER_OTLP_ENDPOINT" in shown
    assert modal["title"]["text"] == "Your token"
    assert app.deps.senders.personal("U0ANA") == "personal-U0ANA"
    # the click also refreshed Ana's App Home: her token, with Replace and Revoke
    wait_for(lambda: "Revoke my token" in json.dumps(publishes_for(app.stub, "U0ANA")[-1]))

    answer = send(app, token, export([("output", 1500, {}), ("input", 400, {})]))
    assert answer.status == 200 and partial(answer) == {}
    assert board(app) == {"U0ANA": 1500 + 400}

    app.slack(block_actions("U0ANA", REVOKE, "revoke", "personal_token",
                            view={"type": "home"}))
    wait_for(lambda: app.deps.senders.personal("U0ANA") is None)
    refused = send(app, token, export([("output", 99, {})]))
    assert refused.status == 401 and board(app) == {"U0ANA": 1900}


def test_a_personal_token_refuses_points_naming_someone_else(app: App) -> None:
    app.stub.add_user("U0BOB", display_name="Bob", email="bob@example.com")
    token = app.deps.senders.create("ana-laptop", owner="U0ANA")
    answer = send(app, token, export([
        ("output", 700, {}),
        ("input", 60, {"user.email": "bob@example.com"}),  # Bob's, not Ana's
        ("thought", 25, {"enduser.id": "otel-ana-7"}),  # maps to nobody: Ana's
    ]))
    assert answer.status == 200
    assert partial(answer) == {"rejectedDataPoints": "1", "errorMessage": (
        "gemini_cli: a data point names (by user.email, enduser.id, user.account_uuid, "
        "user.account_id or cursor.user.id) another person than this personal token's "
        "owner; a personal token reports only for its owner, so it was not counted")}
    assert board(app) == {"U0ANA": 700 + 25}


def test_a_shared_tokens_export_naming_nobody_is_still_refused(app: App) -> None:
    answer = send(app, INGEST_TOKEN, export([("output", 500, {})]))
    assert answer.status == 200
    assert partial(answer)["rejectedDataPoints"] == "1"
    assert "a data point has no user.email" in partial(answer)["errorMessage"]
    assert board(app) == {}


def test_ingest_with_a_personal_token_may_leave_out_user(app: App) -> None:
    token = app.deps.senders.create("ana-script", owner="U0ANA")
    event = {"id": "run-1", "type": "usage", "ts": time.time() - 60, "tool": "script",
             "tokens": 1234}
    answer = app.ingest([event], token=token)
    assert answer.status == 200
    assert json.loads(answer.body) == {"accepted": 1, "duplicates": 0, "rejected": []}
    assert board(app) == {"U0ANA": 1234}

    shared = app.ingest([{**event, "id": "run-2"}])  # INGEST_TOKENS: whose is it?
    assert shared.status == 200 and json.loads(shared.body)["rejected"] == [
        {"index": 0, "id": "run-2",
         "error": "event: either user (a Slack user id) or email is required"}]
    other = app.ingest([{**event, "id": "run-3", "user": "U0BOB"}], token=token)
    assert "a personal token reports only for its owner" in json.loads(
        other.body)["rejected"][0]["error"]
    assert board(app) == {"U0ANA": 1234}
