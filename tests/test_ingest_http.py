"""POST /ingest end to end: real HTTP server, real Redis, Slack stub for email lookups."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta

import pytest

from tests.conftest import App, http
from tests.support.ingest_events import NOW, outcome, totals, usage

pytestmark = pytest.mark.slow  # starts the app's HTTP server


def test_valid_batch_is_counted(app: App) -> None:
    events = [usage("e1", tokens=1200), usage("e2", tokens=800), usage("e3", "U0BOB", 50),
              outcome("o1", "U0BOB")]
    answer = app.ingest(events)
    assert answer.status == 200
    assert answer.json() == {"accepted": 4, "duplicates": 0, "rejected": []}
    assert totals(app) == {"U0ANA": (2000.0, 0.0), "U0BOB": (50.0, 5.0)}


def test_epoch_and_offset_timestamps(app: App) -> None:
    local = NOW.astimezone(datetime.now().astimezone().tzinfo)
    events = [usage("e1", ts=NOW.timestamp()), usage("e2", ts=local.isoformat())]
    assert app.ingest(events).json()["accepted"] == 2
    assert totals(app)["U0ANA"][0] == 2000


def test_mixed_batch_keeps_valid_events_and_names_bad_ones(app: App) -> None:
    events = [
        usage("ok1", tokens=10),
        usage("neg", tokens=-5),
        usage("huge", tokens=10**12),
        usage("extra", tokns=3),
        outcome("kind", kind="lines_of_code"),
        {**usage("naive"), "ts": "2026-11-24T09:30:00"},
        {**usage("future"), "ts": (NOW + timedelta(days=2)).isoformat()},
        {**usage("old"), "ts": (NOW - timedelta(days=800)).isoformat()},
        {**usage("nouser"), "user": None},
        {**usage("baduser"), "user": "ana"},
        "not an object",
        {"id": "t", "type": "mystery"},
        usage("ok2", tokens=20),
    ]
    answer = app.ingest(events)
    assert answer.status == 200
    body = answer.json()
    assert body["accepted"] == 2 and body["duplicates"] == 0
    errors = {r["index"]: r["error"] for r in body["rejected"]}
    assert sorted(errors) == list(range(1, 12))
    assert "tokens" in errors[1] and "greater than or equal to 0" in errors[1]
    assert "tokens" in errors[2]
    assert "tokns: unknown field" in errors[3]
    assert "unknown outcome kind 'lines_of_code'" in errors[4]
    assert "no UTC offset" in errors[5]
    assert "future" in errors[6]
    assert "retention" in errors[7]
    assert "user" in errors[8]
    assert "not a Slack user id" in errors[9]
    assert "JSON object" in errors[10]
    assert "type must be" in errors[11]
    assert {r.get("id") for r in body["rejected"] if r["index"] == 1} == {"neg"}
    assert totals(app) == {"U0ANA": (30.0, 0.0)}


def test_duplicates_within_and_across_batches_count_once(app: App) -> None:
    first = app.ingest([usage("d1", tokens=100), usage("d1", tokens=100), usage("d2")])
    assert first.json() == {"accepted": 2, "duplicates": 1, "rejected": []}
    second = app.ingest([usage("d1", tokens=100), usage("d2"), usage("d3", tokens=1)])
    assert second.json() == {"accepted": 1, "duplicates": 2, "rejected": []}
    assert totals(app)["U0ANA"][0] == 100 + 1000 + 1


def test_outcome_points_diminish_and_cap_per_day(app: App) -> None:
    # Defaults: pr_merged weight 5, sqrt, cap 10; commit weight 1, log, cap 20.
    events = [outcome(f"pr{i}", kind="pr_merged") for i in range(3)]
    events += [outcome("commits", kind="commit", count=25)]
    events += [outcome("review", "U0BOB", kind="review", count=4)]
    assert app.ingest(events).json()["accepted"] == 5
    got = totals(app)
    assert math.isclose(got["U0ANA"][1], 5 * math.sqrt(3) + math.log(1 + 20), rel_tol=1e-12)
    assert math.isclose(got["U0BOB"][1], 2 * math.sqrt(4), rel_tol=1e-12)
    # Both boards hold everyone active: outcome-only people appear with 0 tokens.
    assert got["U0BOB"][0] == 0


def test_auth(app: App) -> None:
    assert app.ingest([usage("a")], token=None).status == 401
    assert app.ingest([usage("a")], token="wrong").status == 401
    assert app.ingest([usage("a")], token="ingest-secret-2").status == 200
    answer = http("POST", app.url + "/ingest", b'{"events": []}',
                  {"Authorization": "Basic ingest-secret-1"})
    assert answer.status == 401 and "bearer" in answer.json()["error"]
    assert totals(app) == {"U0ANA": (1000.0, 0.0)}


def test_bad_bodies(app: App) -> None:
    cases = {
        b"not json": "not valid JSON",
        b"[1, 2]": "JSON object",
        b'{"events": {"id": 1}}': "events must be a list",
        b'{"events": [], "extra": 1}': "unknown top-level field(s): extra",
        b'{"data": []}': "JSON object like",
    }
    for raw, message in cases.items():
        answer = app.ingest(None, raw=raw)
        assert answer.status == 400, raw
        assert message in answer.json()["error"], raw


def test_size_limits(app: App, deps, stub) -> None:
    too_many = [usage(f"m{i}", tokens=1) for i in range(1001)]
    answer = app.ingest(too_many)
    assert answer.status == 413 and "limit is 1000" in answer.json()["error"]
    assert totals(app) == {}
    big = json.dumps({"events": [usage("x", tool="t" * 50)], "pad": "x" * 2_100_000}).encode()
    answer = app.ingest(None, raw=big)
    assert answer.status == 413 and "limit is 2000000" in answer.json()["error"]


def test_email_is_mapped_to_slack_user_once(app: App) -> None:
    app.stub.add_user("U0CARA", real_name="Cara", email="cara@example.com")
    events = [{**usage("m1"), "user": None} | {"email": "Cara@Example.com"}]
    events[0].pop("user")
    assert app.ingest(events).json()["accepted"] == 1
    second = {**events[0], "id": "m2"}
    unknown = {**events[0], "id": "m3", "email": "nobody@example.com"}
    answer = app.ingest([second, unknown]).json()
    # an email that maps to nobody is kept under its identity, not dropped
    assert answer == {"accepted": 2, "duplicates": 0, "rejected": [],
                      "unmapped": ["email:nobody@example.com"]}
    assert totals(app) == {"U0CARA": (2000.0, 0.0)}
    lookups = [c.args["email"] for c in app.stub.calls("users.lookupByEmail")]
    assert lookups == ["cara@example.com", "nobody@example.com"]


def test_healthz(app: App) -> None:
    answer = http("GET", app.url + "/healthz")
    assert answer.status == 200 and answer.json()["redis"] == "up"
    assert http("GET", app.url + "/nope").status == 404
    assert http("GET", app.url + "/ingest").status == 405


def test_redis_down_is_503_then_retry_counts_once(outage) -> None:
    running = outage.app
    batch = [usage("r1", tokens=7), outcome("r2")]
    outage.redis.stop()
    answer = running.ingest(batch)
    assert answer.status == 503
    assert answer.headers.get("Retry-After") == "5"
    assert "retry" in answer.json()["error"]
    assert http("GET", running.url + "/healthz").status == 503
    outage.redis.start()
    assert totals(running) == {}
    assert running.ingest(batch).json() == {"accepted": 2, "duplicates": 0, "rejected": []}
    assert running.ingest(batch).json() == {"accepted": 0, "duplicates": 2, "rejected": []}
    assert totals(running) == {"U0ANA": (7.0, 5.0)}


def test_events_scored_with_a_configuration_saved_mid_batch_use_the_new_weights(
        app: App) -> None:
    # The batch is validated with the configuration of the moment (pr_merged weight 5);
    # while its email is being looked up, an admin saves weight 8. The ingest script sees
    # the stale version, counts nothing, and the events are scored again with weight 8.
    app.stub.add_user("U0CARA", real_name="Cara", email="cara@example.com")
    config = app.deps.store.configs.load()
    faster = config.model_copy(update={"outcomes": {
        **config.outcomes,
        "pr_merged": config.outcomes["pr_merged"].model_copy(update={"weight": 8.0})}})
    app.stub.on_next_call("users.lookupByEmail",
                          lambda: app.deps.store.configs.save(faster, by="U0ADMIN"))
    usage_by_email = {**usage("s1"), "email": "cara@example.com"}
    usage_by_email.pop("user")
    answer = app.ingest([usage_by_email, outcome("s2", "U0CARA")])
    assert answer.json() == {"accepted": 2, "duplicates": 0, "rejected": []}
    assert totals(app) == {"U0CARA": (1000.0, 8.0)}  # 8·√1, not 5
