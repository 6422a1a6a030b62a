"""Property tests (hypothesis) at the edges where clients and people put text in.

- `POST /ingest`: random JSON, random bytes, and valid batches with hostile events mixed
  in never get a 5xx, and every valid event is counted exactly once (totals computed
  here from the README's scoring table, compared with what Redis holds).
- Slack metadata events with random payloads are acked (never a 500 Slack would retry).
- Display names and command text: no rendered surface (Block Kit, digest, App Home,
  terminal, chart alt text) holds a live mention or a control/bidi character, and the
  digest is always posted.

Runs against the real app, real Redis and the Slack stub; examples are few on purpose
(the whole file takes well under 30 s).
"""

from __future__ import annotations

import json
import math
import uuid
from collections import defaultdict

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from jobs.digest import DigestRunner
from tests.conftest import INGEST_TOKEN, App, http
from tests.slack_signing import event_body
from tests.support.digest_org import local, make_deps, seed
from tests.support.digest_posts import posts
from tests.support.digests import DAY
from tests.support.hostile_names import hostile_text, mrkdwn_texts, rendered_problems
from tests.support.ingest_events import TS, totals
from tests.support.slack_app import metadata_event

FUZZ = hsettings(max_examples=30, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
# The README's scoring table: kind -> (weight, daily cap, transform).
SCORING = {"pr_merged": (5, 10, math.sqrt), "deploy": (3, 10, math.sqrt),
           "incident_resolved": (5, 5, math.sqrt), "ticket_resolved": (3, 10, math.sqrt),
           "review": (2, 10, math.sqrt), "commit": (1, 20, lambda x: math.log(1 + x))}


def post_raw(app: App, body: bytes) -> tuple[int, object]:
    answer = http("POST", app.url + "/ingest", body,
                  {"Authorization": f"Bearer {INGEST_TOKEN}",
                   "Content-Type": "application/json"})
    try:
        parsed = answer.json()
    except ValueError:
        parsed = None
    return answer.status, parsed


# -- strategies -----------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=20)

HUGE = ["9" * 4301, "-" + "9" * 5000, "1e400", "-1e400", "1" + "0" * 40]
DEEP = "[" * 25 + "]" * 25  # 28 levels with the body's own: within the limit, never valid
# Raw JSON text a hostile or broken client may send, per field: each one invalid there.
HOSTILE = {
    "tokens": HUGE + ["-1", "true", '"100"', "1.5", "null", "{}", "100000001"],
    "ts": HUGE + ['"9999-12-31T23:59:59-23:59"', '"0001-01-01T00:00:00+23:59"',
                  '"2026-01-01T00:00:00"', '"soon"', "-1", "true", "null", "{}"],
    "id": ['"\\ud800"', '""', "null", "5", '"' + "i" * 201 + '"'],
    "user": ['"<!here>"', '"U0\\u202e"', "null", "5", '"ana"', '"@here"'],
    "tool": ['"x\\udfff"', '""', "null", "5", '"' + "t" * 3000 + '"'],
    "cost_usd": HUGE[2:] + ["-1", '"1.5"', "true", "100001"],
    "requests": HUGE + ["-1", '"3"', "true", "1.5", "null"],
    "type": ['"mystery"', "null", "1", '"USAGE"'],
    "input_tokens": HUGE + ["-1", '"3"', "false", "2.5"],
    "team": ["5", "true", '"' + "t" * 81 + '"', '"\\ud800"'],
    "extra_field": ["1", "null", '"x"'],
}


# Values a lax parser would coerce into a number (the reports' types are strict).
COERCIBLE = ['"100"', '"3"', "true", "false", '" 7 "', "2.0"]


@st.composite
def hostile_field(draw: st.DrawFn) -> tuple[str, str]:
    if draw(st.booleans()):
        field = draw(st.sampled_from(["tokens", "requests", "input_tokens", "output_tokens"]))
        return field, draw(st.sampled_from(COERCIBLE))
    field = draw(st.sampled_from(sorted(HOSTILE)))
    return field, draw(st.sampled_from(HOSTILE[field] + [DEEP]))


@st.composite
def valid_event(draw: st.DrawFn, users: list[str], tag: str) -> dict:
    user = draw(st.sampled_from(users))
    n = draw(st.integers(0, 10**9))
    if draw(st.booleans()):
        return {"id": f"{tag}-u{n}", "type": "usage", "user": user, "ts": TS,
                "tool": draw(st.sampled_from(["meshclaw", "t", "ünï"])),
                "tokens": draw(st.integers(0, 100_000_000)),
                "cost_usd": draw(st.sampled_from([0, 1, 0.25, 99_999.5]))}
    return {"id": f"{tag}-o{n}", "type": "outcome", "user": user, "ts": TS,
            "kind": draw(st.sampled_from(sorted(SCORING))), "count": draw(st.integers(1, 30))}


@st.composite
def mixed_batch(draw: st.DrawFn) -> tuple[str, list[dict], set[int]]:
    """(body text, the valid events, indexes of the hostile events)."""
    tag = uuid.uuid4().hex[:10]
    users = [f"U0{tag.upper()}{i}" for i in range(3)]
    valid = draw(st.lists(valid_event(users, tag), max_size=12,
                          unique_by=lambda e: e["id"]))
    pieces = [json.dumps(e) for e in valid]
    hostile = draw(st.lists(st.tuples(hostile_field(), st.integers(0, 10**6)), max_size=10))
    for (field, raw), position in hostile:
        event = {"id": f"{tag}-bad{position}", "type": "usage", "user": users[0], "ts": TS,
                 "tool": "t", "tokens": 7, field: "@HOSTILE@"}
        pieces.insert(position % (len(pieces) + 1),
                      json.dumps(event).replace('"@HOSTILE@"', raw))
    if draw(st.booleans()):  # an arbitrary value (never a valid report) as an event
        pieces.insert(0, json.dumps(draw(json_values.filter(
            lambda v: not isinstance(v, float) or math.isfinite(v)))))
    valid_text = {json.dumps(e) for e in valid}
    bad_positions = {i for i, p in enumerate(pieces) if p not in valid_text}
    return '{"events": [' + ", ".join(pieces) + "]}", valid, bad_positions


def expected_totals(events: list[dict]) -> dict[str, tuple[float, float]]:
    tokens: dict[str, float] = defaultdict(float)
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for e in events:
        if e["type"] == "usage":
            tokens[e["user"]] += e["tokens"]
        else:
            tokens[e["user"]] += 0
            counts[(e["user"], e["kind"])] += e["count"]
    points: dict[str, float] = defaultdict(float)
    for (user, kind), count in counts.items():
        weight, cap, transform = SCORING[kind]
        points[user] += weight * transform(min(count, cap))
    return {u: (tokens[u], points[u]) for u in tokens}


# -- /ingest --------------------------------------------------------------------------------

@pytest.mark.slow
@FUZZ
@given(body=json_values)
def test_random_json_never_5xx(app: App, body: object) -> None:
    status, answer = post_raw(app, json.dumps(body).encode())
    assert status in (200, 400, 413), (status, answer)


@pytest.mark.slow
@FUZZ
@given(data=st.data())
def test_mutated_bodies_never_5xx(app: App, data: st.DataObject) -> None:
    tag = uuid.uuid4().hex[:8]
    body = bytearray(json.dumps({"events": [
        {"id": f"{tag}-{i}", "type": "usage", "user": "U0MUT", "ts": TS, "tool": "t",
         "tokens": i} for i in range(3)]}).encode())
    for _ in range(data.draw(st.integers(1, 6))):
        at = data.draw(st.integers(0, len(body) - 1))
        action = data.draw(st.sampled_from(["flip", "insert", "delete"]))
        byte = data.draw(st.integers(0, 255))
        if action == "flip":
            body[at] = byte
        elif action == "insert":
            body.insert(at, byte)
        elif len(body) > 1:
            del body[at]
    status, answer = post_raw(app, bytes(body))
    assert status in (200, 400, 413), (status, answer)
    if status == 200:
        assert isinstance(answer, dict) and answer["accepted"] <= 3


@pytest.mark.slow
@FUZZ
@given(batch=mixed_batch())
def test_valid_events_beside_hostile_ones_are_counted_exactly_once(
        app: App, batch: tuple[str, list[dict], set[int]]) -> None:
    body, valid, bad = batch
    before = totals(app)
    status, answer = post_raw(app, body.encode())
    assert status == 200, (status, answer)
    assert isinstance(answer, dict)
    assert answer["accepted"] == len(valid) and answer["duplicates"] == 0
    assert {r["index"] for r in answer["rejected"]} == bad
    assert all(r["error"] for r in answer["rejected"])
    after = totals(app)
    changed = {u: v for u, v in after.items() if before.get(u) != v}
    expected = expected_totals(valid)
    assert changed.keys() == expected.keys()
    for user, (tokens, points) in expected.items():
        assert after[user][0] == tokens
        assert math.isclose(after[user][1], points, rel_tol=1e-9, abs_tol=1e-9)
    # The same body again: every valid event is a duplicate, nothing changes.
    status, again = post_raw(app, body.encode())
    assert status == 200 and isinstance(again, dict)
    assert again["accepted"] == 0 and again["duplicates"] == len(valid)
    assert totals(app) == after


# -- Slack payloads -------------------------------------------------------------------------

@pytest.mark.slow
@hsettings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=st.dictionaries(st.sampled_from(["id", "user", "email", "ts", "tool", "tokens",
                                                "kind", "count", "type", "cost_usd", "x"]),
                               json_values.filter(lambda v: not (isinstance(v, float)
                                                                 and not math.isfinite(v))),
                               max_size=8),
       event_type=st.sampled_from(["ai_usage_reported", "outcome_reported"]))
def test_metadata_events_with_any_payload_are_acked(app: App, payload: dict,
                                                    event_type: str) -> None:
    event = metadata_event(payload, event_type)
    answer = app.slack(event_body(event, event_id=f"Ev{uuid.uuid4().hex[:10]}"),
                       content_type="application/json")
    assert answer.status == 200, answer.body


# -- names on every surface -----------------------------------------------------------------


@hsettings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(names=st.lists(hostile_text, min_size=2, max_size=8))
def test_the_digest_is_always_posted(settings, redis_client, stub, names: list[str]) -> None:
    redis_client.flushdb()
    stub.clear()
    deps = make_deps(settings, redis_client)
    people = {}
    for i, name in enumerate(names):
        uid = f"U0DG{i:02d}"
        stub.add_user(uid, display_name=name, real_name=name)
        people[uid] = (100_000 * (i + 1), {"review": i} if i else {})
    seed(deps, local(DAY, 12), people)
    outcome = DigestRunner(deps).run(DAY)
    assert outcome.status == "posted", outcome
    [post] = posts(stub)
    for text, verbatim in mrkdwn_texts(post["blocks"]):
        assert verbatim and rendered_problems(text, mrkdwn=True) == [], text
    assert len(stub.uploads()) == 1  # the chart too
    [upload] = stub.calls("files.completeUploadExternal")
    alt = json.dumps(upload.args, ensure_ascii=True)
    assert "\\u202e" not in alt.lower() and "\\u001b" not in alt.lower()
    assert deps.store.digests.error() is None
