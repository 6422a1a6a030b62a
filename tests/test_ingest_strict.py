"""POST /ingest against hostile bodies: strict JSON, strict types, per-event rejection of
values out of range, and email lookups that Slack cannot answer right now."""

from __future__ import annotations

import json
import time

import pytest

from bot.core.periods import ALL
from bot.sources.strict_json import MAX_DEPTH
from tests.conftest import INGEST_TOKEN, App, http
from tests.support.ingest_events import TS, outcome, totals, usage


def post(app: App, body: bytes, content_type: str | None = "application/json"):
    headers = {"Authorization": f"Bearer {INGEST_TOKEN}"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    return http("POST", app.url + "/ingest", body, headers)


def by_email(id: str, email: str, tokens: int = 10) -> dict:
    event = usage(id, tokens=tokens)
    event.pop("user")
    return {**event, "email": email}


# -- values out of range cost their own event, never the batch ------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("bad_ts", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59"])
def test_an_impossible_date_rejects_its_event_and_the_rest_is_counted(app: App,
                                                                      bad_ts: str) -> None:
    events = [usage(f"ok{i}", tokens=i + 1) for i in range(999)]
    events.insert(500, {**usage("bad-date"), "ts": bad_ts})
    answer = app.ingest(events)
    assert answer.status == 200, answer.body
    body = answer.json()
    assert body["accepted"] == 999 and body["duplicates"] == 0
    assert [(r["index"], r["id"]) for r in body["rejected"]] == [(500, "bad-date")]
    assert "ts" in body["rejected"][0]["error"]
    assert totals(app) == {"U0ANA": (float(sum(range(1, 1000))), 0.0)}


@pytest.mark.slow
def test_huge_numbers_reject_their_event_only(app: App) -> None:
    good = json.dumps(usage("good", tokens=42))
    huge_int = json.dumps(usage("huge-int")).replace('"tokens": 1000', '"tokens": ' + "9" * 4301)
    huge_float = json.dumps(usage("huge-float")).replace('"cost_usd": 0.01', '"cost_usd": 1e400')
    huge_ts = json.dumps(usage("huge-ts")).replace(json.dumps(TS), "1" + "0" * 5000)
    negative = json.dumps(outcome("neg-count")).replace('"count": 1', '"count": -' + "9" * 5000)
    body = f'{{"events": [{huge_int}, {good}, {huge_float}, {huge_ts}, {negative}]}}'.encode()
    answer = post(app, body)
    assert answer.status == 200, answer.body
    result = answer.json()
    assert result["accepted"] == 1
    rejected = {r["id"]: r["error"] for r in result["rejected"]}
    assert [r["index"] for r in result["rejected"]] == [0, 2, 3, 4]
    assert "tokens" in rejected["huge-int"] and "out of range" in rejected["huge-int"]
    assert "cost_usd" in rejected["huge-float"] and "out of range" in rejected["huge-float"]
    assert "ts" in rejected["huge-ts"] and "neg-count" in rejected
    assert len(answer.body) < 5000  # the numbers are not echoed back whole
    assert totals(app) == {"U0ANA": (42.0, 0.0)}


@pytest.mark.slow
def test_unpaired_surrogate_text_rejects_its_event(app: App) -> None:
    body = json.dumps({"events": [usage("x"), usage("ok", tokens=5)]})
    body = body.replace('"id": "x"', '"id": "x\\ud800"')
    body = body.replace('"tool": "meshclaw", "tokens": 1000', '"tool": "m\\udfff", "tokens": 1000')
    answer = post(app, body.encode())
    assert answer.status == 200, answer.body
    result = answer.json()
    assert result["accepted"] == 1
    assert result["rejected"][0]["index"] == 0 and "Unicode" in result["rejected"][0]["error"]
    assert totals(app) == {"U0ANA": (5.0, 0.0)}


# -- what is not strict JSON is refused whole --------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("raw, message", [
    (b'{"events": [{"id": "n", "type": "usage", "user": "U0ANA", "ts": 1, "tool": "t", '
     b'"tokens": 1, "cost_usd": NaN}]}', "NaN"),
    (b'{"events": [], "events": []}', "duplicate key 'events'"),
    (b'{"events": [{"id": "a", "id": "b"}]}', "duplicate key 'id'"),
    (b'{"events": [{"tokens": Infinity}]}', "Infinity"),
    (b'{"events": [{"tokens": -Infinity}]}', "-Infinity"),
    (b'{"events": ' + b"[" * 1000 + b"]" * 1000 + b"}", "nests 1001 levels"),
    ('{"events": []}'.encode("utf-16"), "not UTF-8"),
    (b'{"events": ["\xff"]}', "not UTF-8"),
])
def test_not_strict_json_is_400_and_nothing_counted(app: App, raw: bytes, message: str) -> None:
    mixed = raw.replace(b'"events": [', b'"events": [' + json.dumps(usage("v")).encode() + b", ",
                        1) if b"NaN" in raw else raw
    answer = post(app, mixed)
    assert answer.status == 400, answer.body
    assert message in answer.json()["error"]
    assert totals(app) == {}


@pytest.mark.slow
def test_depth_limit_is_exact(app: App) -> None:
    def nested(levels: int) -> str:  # a value `levels` deep inside an event (depth 3)
        return "[" * levels + "]" * levels

    within = json.dumps({"events": [usage("deep", tool="x"), usage("ok")]}).replace(
        '"tool": "x"', '"tool": ' + nested(MAX_DEPTH - 3))
    answer = post(app, within.encode())
    assert answer.status == 200 and answer.json()["accepted"] == 1
    assert answer.json()["rejected"][0]["index"] == 0
    beyond = within.replace(nested(MAX_DEPTH - 3), nested(MAX_DEPTH - 2))
    answer = post(app, beyond.encode())
    assert answer.status == 400 and f"limit is {MAX_DEPTH}" in answer.json()["error"]
    brackets_in_strings = json.dumps({"events": [usage("s", tool='\\"' + "[" * 39 + "{" * 39)]})
    assert post(app, brackets_in_strings.encode()).json()["accepted"] == 1
    assert totals(app) == {"U0ANA": (2000.0, 0.0)}


@pytest.mark.slow
@pytest.mark.parametrize("content_type, status", [
    ("application/json", 200),
    ("application/json; charset=utf-8", 200),
    ("application/json;charset=UTF-8", 200),
    ("text/plain", 415),
    ("application/x-www-form-urlencoded", 415),
    ("application/json; charset=utf-16", 415),
    ("application/json; charset=latin-1", 415),
    (None, 415),
])
def test_content_type(app: App, content_type: str | None, status: int) -> None:
    answer = post(app, json.dumps({"events": [usage("c")]}).encode(), content_type)
    assert answer.status == status, answer.body
    assert totals(app) == ({"U0ANA": (1000.0, 0.0)} if status == 200 else {})


# -- strict types ---------------------------------------------------------------------------

@pytest.mark.slow
def test_types_are_strict(app: App) -> None:
    events = [
        usage("bool-tokens", tokens=True),
        usage("str-tokens", tokens="100"),
        usage("float-tokens", tokens=100.0),
        usage("str-cost", cost_usd="0.5"),
        usage("bool-cost", cost_usd=False),
        usage("str-requests", requests="3"),
        outcome("str-count", count="2"),
        outcome("bool-count", count=True),
        usage("num-tool", tool=7),
        usage("int-cost", tokens=3, cost_usd=2),  # an integer where a float goes: fine
        usage("float-cost", tokens=4, cost_usd=0.25),
    ]
    answer = app.ingest(events)
    assert answer.status == 200
    body = answer.json()
    assert body["accepted"] == 2
    rejected = {r["id"]: r["error"] for r in body["rejected"]}
    assert sorted(rejected) == sorted(e["id"] for e in events[:9])
    for id, field in [("bool-tokens", "tokens"), ("str-tokens", "tokens"),
                      ("str-cost", "cost_usd"), ("str-count", "count"), ("num-tool", "tool")]:
        assert rejected[id].startswith(f"{field}: "), rejected[id]
    assert totals(app) == {"U0ANA": (7.0, 0.0)}
    # cost is kept per day only as the raw metric; all-time always
    cost = app.deps.store.reads.period_totals(ALL, "cost")
    assert cost.raw.tolist() == [pytest.approx(2.25)]


# -- email lookups Slack cannot answer now: 503 for the whole batch --------------------------

@pytest.mark.slow
def test_rate_limited_lookup_is_503_with_slacks_retry_after_and_nothing_counted(
        app: App) -> None:
    app.stub.add_user("U0CARA", real_name="Cara", email="cara@example.com")
    batch = [usage("r-direct", tokens=1), by_email("r-mail", "cara@example.com")]
    app.stub.fail_next("users.lookupByEmail", "ratelimited", status=429,
                       headers={"Retry-After": "7"})
    started = time.monotonic()
    answer = app.ingest(batch)
    assert time.monotonic() - started < 3  # not waited out inside the request
    assert answer.status == 503, answer.body
    assert answer.headers.get("Retry-After") == "7"
    assert "retry" in answer.json()["error"]
    assert totals(app) == {}
    again = app.ingest(batch)
    assert again.json() == {"accepted": 2, "duplicates": 0, "rejected": []}
    assert totals(app) == {"U0ANA": (1.0, 0.0), "U0CARA": (10.0, 0.0)}


@pytest.mark.slow
@pytest.mark.parametrize("status, error", [(500, "internal_error"), (503, "service_unavailable"),
                                           (200, "missing_scope")])
def test_failing_lookup_is_503_and_nothing_counted(app: App, status: int, error: str) -> None:
    app.stub.add_user("U0CARA", real_name="Cara", email="cara@example.com")
    app.stub.fail_next("users.lookupByEmail", error, status=status, times=5)
    answer = app.ingest([usage("f-direct"), by_email("f-mail", "cara@example.com")])
    assert answer.status == 503, answer.body
    assert int(answer.headers["Retry-After"]) >= 1
    assert totals(app) == {}


@pytest.mark.slow
def test_unknown_email_is_kept_for_an_admin_to_link(app: App) -> None:
    answer = app.ingest([usage("k1"), by_email("k2", "nobody@example.com")])
    assert answer.status == 200
    assert answer.json() == {"accepted": 2, "duplicates": 0, "rejected": [],
                             "unmapped": ["email:nobody@example.com"]}


@pytest.mark.slow
def test_new_emails_are_looked_up_concurrently_once_each(app: App) -> None:
    people = 40
    for i in range(people):
        app.stub.add_user(f"U0P{i:03d}", real_name=f"P{i}", email=f"p{i}@example.com")
    events = [by_email(f"c{i}-{n}", f"P{i}@Example.com", tokens=i + 1)
              for i in range(people) for n in range(2)]
    app.stub.slow("users.lookupByEmail", 0.1)
    answer = app.ingest(events)
    assert answer.json() == {"accepted": 2 * people, "duplicates": 0, "rejected": []}
    lookups = [c.args["email"] for c in app.stub.calls("users.lookupByEmail")]
    assert sorted(lookups) == sorted(f"p{i}@example.com" for i in range(people))
    assert 2 <= app.stub.peak("users.lookupByEmail") <= 8  # concurrent, at most 8 at once
    assert totals(app) == {f"U0P{i:03d}": (2.0 * (i + 1), 0.0) for i in range(people)}


@pytest.mark.slow
def test_the_first_rate_limit_stops_the_lookups(app: App) -> None:
    people = 60
    for i in range(people):
        app.stub.add_user(f"U0Q{i:03d}", real_name=f"Q{i}", email=f"q{i}@example.com")
    app.stub.slow("users.lookupByEmail", 0.05)
    app.stub.fail_next("users.lookupByEmail", "ratelimited", status=429,
                       headers={"Retry-After": "30"})
    answer = app.ingest([by_email(f"q{i}", f"q{i}@example.com") for i in range(people)])
    assert answer.status == 503 and answer.headers["Retry-After"] == "30"
    made = len(app.stub.calls("users.lookupByEmail"))
    assert made <= 16, made  # the calls already under way, not all 60
    # Answers received before the rate limit are cached: the retry asks only for the rest.
    app.stub.clear()
    assert app.ingest([by_email(f"q{i}", f"q{i}@example.com") for i in range(people)]
                      ).json()["accepted"] == people
    assert len(app.stub.calls("users.lookupByEmail")) == people - (made - 1)
