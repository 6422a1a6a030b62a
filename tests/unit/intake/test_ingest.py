"""bot.intake.ingest: an /ingest body read as a batch, each event validated, emails turned
into people, everything counted once per sender (real Redis; Slack never asked: the
emails used are in the cache or linked).

Points use the default rule for `pr_merged` (weight 5, cap 10, square root): 4 merges in
a day are 5·√4 = 10 points; the numbers below are worked out by hand from that.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from bot.core.periods import day_bucket
from bot.intake.count import Counted, Rejection
from bot.intake.identities import Identities
from bot.intake.ingest import BadBatch, content_type_problem, ingest_events, parse_batch
from bot.slack.directory import LookupUnavailable
from bot.store.store import Store
from bot.web.ingest_route import ingest_json

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
TODAY = day_bucket(NOW.date())


def usage(id: str, user: str = "U0ANA", tokens: int = 1000, **more: object) -> dict:
    return {"id": id, "type": "usage", "user": user, "ts": NOW.isoformat(), "tool": "t",
            "tokens": tokens, **more}


def merged(id: str, user: str = "U0ANA", count: int = 4, **more: object) -> dict:
    return {"id": id, "type": "outcome", "user": user, "ts": NOW.isoformat(),
            "kind": "pr_merged", "count": count, **more}


def rejected(events: list, counted: Counted) -> list[dict]:
    """The rejected events as /ingest answers them: index, error and id when it has one."""
    return ingest_json(events, counted)["rejected"]


def today(store: Store) -> dict[str, tuple[float, float]]:
    """user → (tokens, outcome points) of NOW's day."""
    return {p.user: (p.tokens, p.points) for p in store.reads.period_totals(TODAY)}


# -- the body ---------------------------------------------------------------------------


@pytest.mark.parametrize("header", ["application/json", "application/json; charset=utf-8",
                                    "Application/JSON; charset=UTF8"])
def test_json_in_utf_8_is_the_content_type_taken(header: str) -> None:
    assert content_type_problem(header) is None


@pytest.mark.parametrize(("header", "said"), [
    ("", "Content-Type must be application/json, got ''"),
    ("text/plain", "Content-Type must be application/json, got 'text/plain'"),
    ("application/json; charset=latin-1", "charset must be utf-8, got 'latin-1'"),
])
def test_other_content_types_are_refused_saying_why(header: str, said: str) -> None:
    assert content_type_problem(header) == said


def test_a_batch_is_the_events_list_of_a_json_object() -> None:
    assert parse_batch(b'{"events": []}') == []
    assert parse_batch(json.dumps({"events": [usage("u1")]}).encode()) == [usage("u1")]


@pytest.mark.parametrize(("body", "said"), [
    (b"[]", 'body must be a JSON object like {"events": [...]}'),
    (b'{"event": []}', 'body must be a JSON object like {"events": [...]}'),
    (b'{"events": [], "extra": 1, "another": 2}', "unknown top-level field(s): another, extra"),
    (b'{"events": {}}', "events must be a list"),
])
def test_a_body_of_another_shape_is_a_bad_batch(body: bytes, said: str) -> None:
    with pytest.raises(BadBatch) as bad:
        parse_batch(body)
    assert str(bad.value) == said and not bad.value.too_large


@pytest.mark.parametrize("body", [b'{"events": [], "events": []}', b"\xff", b"{", b"NaN",
                                  b'{"events": [NaN]}'])
def test_what_is_not_strict_json_is_a_bad_batch(body: bytes) -> None:
    with pytest.raises(BadBatch) as bad:
        parse_batch(body)
    assert str(bad.value).startswith("body is not valid JSON: ")


def test_more_than_a_thousand_events_are_too_large() -> None:
    with pytest.raises(BadBatch) as bad:
        parse_batch(json.dumps({"events": [{}] * 1001}).encode())
    assert bad.value.too_large and "1001 events in one batch; the limit is 1000" in str(bad.value)
    assert len(parse_batch(json.dumps({"events": [{}] * 1000}).encode())) == 1000


def test_a_rejection_names_the_event_by_index_and_by_its_id_when_it_has_one() -> None:
    events = [{"id": "a"}, {"id": 5}, [1]]
    result = Counted()
    result.reject("bad", 0)
    result.reject("worse", 1)
    result.reject("worst", 2)
    assert result.rejected == [Rejection("bad", 0), Rejection("worse", 1),
                               Rejection("worst", 2)]
    assert ingest_json(events, result) == {"accepted": 0, "duplicates": 0, "rejected": [
        {"index": 0, "error": "bad", "id": "a"}, {"index": 1, "error": "worse"},
        {"index": 2, "error": "worst"}]}
    result.unmapped.append("email:x@example.com")
    assert ingest_json(events, result)["unmapped"] == ["email:x@example.com"]


# -- counting ---------------------------------------------------------------------------


def test_valid_events_count_once_and_bad_ones_are_named(store: Store,
                                                        identities: Identities) -> None:
    batch = [usage("u1"), merged("o1"), {"id": "x1", "type": "nonsense"}, usage("u1"),
             usage("u2", user="U0BEN", tokens=250)]
    result = ingest_events(store, identities, batch, now=NOW)
    assert (result.counted, result.duplicates) == (3, [3])
    [refused] = rejected(batch, result)
    assert (refused["index"], refused["id"]) == (2, "x1")
    assert "type must be 'usage' or 'outcome'" in refused["error"]
    assert today(store) == {"U0ANA": (1000.0, 10.0), "U0BEN": (250.0, 0.0)}
    # the same batch again: every event a duplicate, nothing added
    again = ingest_events(store, identities, batch, now=NOW)
    assert (again.counted, len(again.duplicates)) == (0, 4)
    assert today(store) == {"U0ANA": (1000.0, 10.0), "U0BEN": (250.0, 0.0)}


def test_an_id_reused_for_other_content_is_a_conflict(store: Store,
                                                      identities: Identities) -> None:
    ingest_events(store, identities, [usage("u1", tokens=10)], now=NOW)
    batch = [usage("u1", tokens=20)]
    result = ingest_events(store, identities, batch, now=NOW)
    assert result.counted == 0 and result.conflicts == [0]
    assert rejected(batch, result) == [{"index": 0, "id": "u1", "error": (
        "conflict: id 'u1' was already used by this sender for a different report; use a "
        "new id")}]
    assert today(store) == {"U0ANA": (10.0, 0.0)}


def test_ids_belong_to_their_sender(store: Store, identities: Identities) -> None:
    ingest_events(store, identities, [usage("u1", tokens=10)], now=NOW, sender="ci")
    result = ingest_events(store, identities, [usage("u1", tokens=10)], now=NOW,
                           sender="laptops")
    assert result.counted == 1
    assert today(store) == {"U0ANA": (20.0, 0.0)}


def test_an_unknown_outcome_kind_or_a_time_out_of_range_is_rejected(
        store: Store, identities: Identities) -> None:
    batch = [merged("o1", kind="haiku_written"),
             usage("late", ts=(NOW + timedelta(minutes=11)).isoformat()),
             usage("old", ts=(NOW - timedelta(days=401)).isoformat())]
    result = ingest_events(store, identities, batch, now=NOW)
    assert result.counted == 0 and [r.index for r in result.rejected] == [0, 1, 2]
    assert "unknown outcome kind 'haiku_written'" in result.rejected[0].reason
    assert "is in the future" in result.rejected[1].reason
    assert "older than the 400-day retention window" in result.rejected[2].reason
    assert today(store) == {}


def test_an_email_counts_for_whom_it_is_and_is_kept_when_it_is_nobody(
        store: Store, identities: Identities) -> None:
    store.slack_cache.put_email("ana@example.com", "U0ANA")  # what Slack answered earlier
    store.slack_cache.put_email("gone@example.com", "")  # Slack knows no such person
    identities.link("U0CY", "email:cy@example.com")  # an admin linked this one
    batch = [{**usage("e1"), "user": None, "email": "Ana@Example.com"},
             {**usage("e2", tokens=5), "user": None, "email": "gone@example.com"},
             {**merged("e3", count=1), "user": None, "email": "cy@example.com"}]
    for event in batch:
        del event["user"]
    result = ingest_events(store, identities, batch, now=NOW)
    assert result.counted == 3 and result.unmapped == ["email:gone@example.com"]
    assert today(store) == {"U0ANA": (1000.0, 0.0), "U0CY": (0.0, 5.0)}  # 5·√1


def test_when_slack_cannot_be_asked_nothing_of_the_batch_is_counted(
        store: Store, identities: Identities) -> None:
    batch = [usage("u1"), {"id": "e1", "type": "usage", "email": "new@example.com",
                           "ts": NOW.isoformat(), "tool": "t", "tokens": 5}]
    with pytest.raises(LookupUnavailable):
        ingest_events(store, identities, batch, now=NOW)
    assert today(store) == {}


# -- one source per tool (tool_sources) -------------------------------------------------


def test_ingest_takes_a_tool_nobody_holds_and_counts_it(store: Store,
                                                       identities: Identities) -> None:
    result = ingest_events(store, identities, [usage("c1", tool="claude-code")], now=NOW)
    assert result.counted == 1 and not result.rejected
    assert store.pulls.tool_source("claude_code") == "ingest"
    assert today(store) == {"U0ANA": (1000, 0)}


def test_a_tool_another_source_holds_is_valid_but_not_counted(
        store: Store, identities: Identities, monkeypatch: pytest.MonkeyPatch) -> None:
    store.pulls.claim_tool("cursor", "cursor")  # Cursor's Admin API was heard first
    asked: list[str] = []
    real = store.pulls.tool_source
    monkeypatch.setattr(store.pulls, "tool_source", lambda tool: asked.append(tool) or real(tool))
    events = [usage(f"cu{i}", tool=name, tokens=100) for i, name in
              enumerate(["cursor", "Cursor", "cursor"] * 20)]
    events.insert(1, usage("other", tool="meshclaw", tokens=7))
    result = ingest_events(store, identities, events, now=NOW)
    assert result.counted == 1 and today(store) == {"U0ANA": (7, 0)}
    answer = rejected(events, result)
    assert len(answer) == 60 and {a["index"] for a in answer} == set(range(len(events))) - {1}
    assert answer[0] == {"index": 0, "id": "cu0", "error": (
        "cursor usage counts from Cursor's Admin API, not from /ingest (tool_sources), so "
        "nothing counts twice: valid, not counted")}
    assert asked == ["cursor"]  # once for the batch, not once per event


def test_the_configuration_names_the_source_that_counts(store: Store,
                                                        identities: Identities) -> None:
    from bot.core.config import BoardConfig

    store.pulls.claim_tool("copilot", "ingest")  # first heard, but the configuration decides
    store.configs.save(BoardConfig(tool_sources={"copilot": "otlp", "openai": "ingest"}))
    events = [usage("cp", tool="copilot"), usage("oa", tool="openai", tokens=50)]
    result = ingest_events(store, identities, events, now=NOW)
    assert result.counted == 1 and today(store) == {"U0ANA": (50, 0)}
    assert [(a["id"], a["error"].split(",")[0]) for a in rejected(events, result)] == [
        ("cp", "copilot usage counts from OpenTelemetry")]
