"""bot.intake.telemetry: who an OTLP point is, what it adds to whose day, and counting an
export once (real Redis; identities without Slack). Expectations worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.core.config import BoardConfig
from bot.core.periods import day_bucket
from bot.intake.identities import Identities
from bot.intake.telemetry import (
    count_points,
    counted_here,
    identity_of,
    point_usage,
    usage_fields,
)
from bot.sources.otlp import Decoded, Point
from bot.store.store import Store
from bot.web.otlp_routes import partial_success


@pytest.mark.parametrize("attributes, expected", [
    ({"user.email": "Ana@X.com", "user.account_uuid": "acc-1"}, "email:ana@x.com"),
    ({"enduser.id": "bo@x.com", "user.account_uuid": "acc-1"}, "email:bo@x.com"),
    ({"enduser.id": "svc-7"}, "otel:svc-7"),
    ({"user.email": "not an email", "user.account_id": "acc-2"}, "otel:acc-2"),
    ({"user.id": "install-123", "session.id": "s"}, None),
])
def test_who_a_point_is(attributes: dict[str, str], expected: str | None) -> None:
    assert identity_of(attributes) == expected


NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
NS = 1_000_000_000


def point(value: float, quantity: str = "tokens", token_type: str | None = "output",
          at: datetime = NOW, cumulative: bool = False, start: datetime | None = None,
          who: dict[str, str] | None = None, tool: str = "gemini_cli", series: str = "s1",
          event_id: str | None = None, model: str | None = None) -> Point:
    start = start or at - timedelta(minutes=1)
    return Point(tool=tool, quantity=quantity, token_type=token_type, value=value,
                 cumulative=cumulative, start_ns=int(start.timestamp()) * NS,
                 time_ns=int(at.timestamp()) * NS,
                 attributes={"user.email": "ana@example.com"} if who is None else who,
                 model=model, series=series, event_id=event_id)


def day(store: Store, user: str) -> dict[str, float]:
    return store.reads.day_counts(NOW.date(), user)


@pytest.mark.parametrize(("quantity", "token_type", "fields"), [
    ("tokens", "output", (("output_tokens", 1.0), ("tokens", 1.0), ("t:gc", 1.0))),
    ("tokens", None, (("input_tokens", 1.0), ("tokens", 1.0), ("t:gc", 1.0))),  # no type: input
    ("cost", None, (("cost", 1.0), ("c:gc", 10_000.0))),
    ("sessions", None, (("sessions", 1.0),)),
    ("activity:edit", None, (("a:edit", 1.0),)),
    ("lines", None, ()),
])
def test_what_a_point_adds_to_a_day(quantity: str, token_type: str | None,
                                    fields: tuple) -> None:
    assert usage_fields(point(1, quantity, token_type), BoardConfig()) == fields


def test_tokens_are_kept_per_tool_and_model_and_cost_per_tool() -> None:
    config = BoardConfig()
    tokens = point(1, tool="claude_code", model="claude-opus-4-5-20251101")
    assert usage_fields(tokens, config)[-2:] == (("t:cc", 1.0), ("m:opus-4-5", 1.0))
    assert usage_fields(point(1, tool="my-agent"), config)[-1] == ("t:my_agent", 1.0)
    assert usage_fields(point(1, "cost", None, tool="codex"), config) == (
        ("cost", 1.0), ("c:cx", 10_000.0))


def test_a_token_type_left_out_of_the_tokens_figure_is_still_kept_by_type() -> None:
    config = BoardConfig(token_types=["input", "output"])
    assert usage_fields(point(1, token_type="cache_read"), config) == (
        ("cache_read_tokens", 1.0),)


def test_a_delta_point_is_named_by_its_series_and_window() -> None:
    config = BoardConfig()
    first = point_usage(point(5), config)
    assert first.id == point_usage(point(7), config).id  # a retry with another value: same id
    assert first.id != point_usage(point(5, at=NOW + timedelta(minutes=1)), config).id
    assert first.id != point_usage(point(5, series="s2"), config).id
    assert first.ts == NOW and first.value == 5
    logged = point_usage(point(5, event_id="req-1"), config)
    assert logged.id != first.id and logged.id == point_usage(point(9, event_id="req-1",
                                                                 series="other"), config).id


def test_a_cumulative_point_carries_its_series_instead_of_an_id() -> None:
    usage = point_usage(point(40, cumulative=True), BoardConfig())
    assert (usage.id, usage.series, usage.value) == ("", "s1", 40)
    assert usage.time_ns - usage.start_ns == 60 * NS


@pytest.mark.parametrize(("setting", "signal", "quantity", "counted"), [
    ("metrics", "metrics", "tokens", True), ("metrics", "logs", "tokens", False),
    ("events", "metrics", "tokens", False), ("events", "logs", "tokens", True),
    ("events", "metrics", "sessions", True),  # sessions always come from metrics
])
def test_claude_code_counts_its_usage_from_metrics_or_from_events(
        setting: str, signal: str, quantity: str, counted: bool) -> None:
    config = BoardConfig(claude_code_usage=setting)
    assert counted_here(point(1, quantity, tool="claude_code"), config, signal) is counted
    assert counted_here(point(1, quantity), config, signal)  # any other tool: always


def test_an_export_counts_once_for_whom_each_point_is(store: Store,
                                                      identities: Identities) -> None:
    store.slack_cache.put_email("ana@example.com", "U0ANA")
    decoded = Decoded(points=[point(300), point(0.25, "cost", None, series="s2"),
                              point(50, who={"user.account_uuid": "acc-9"}, series="s3")])
    counted = count_points(store, identities, decoded, "metrics", "exporter", now=NOW)
    rejected, message = partial_success(decoded, counted)
    assert (counted.counted, len(counted.duplicates), rejected) == (3, 0, 0)
    assert counted.unmapped == ["otel:acc-9"]
    assert "kept for nobody until an admin links them" in message
    counts = day(store, "U0ANA")
    assert (counts["tokens"], counts["output_tokens"], counts["cost"]) == (300, 300, 0.25)
    again = count_points(store, identities, decoded, "metrics", "exporter", now=NOW)
    assert (again.counted, len(again.duplicates)) == (0, 3)
    assert day(store, "U0ANA")["tokens"] == 300


def test_a_cumulative_series_adds_only_its_increase(store: Store,
                                                   identities: Identities) -> None:
    store.slack_cache.put_email("ana@example.com", "U0ANA")
    start = NOW - timedelta(hours=1)
    for value, minute in ((100, 10), (100, 10), (160, 20), (160, 20), (250, 30)):
        at = start + timedelta(minutes=minute)
        count_points(store, identities, Decoded(points=[point(value, at=at, start=start,
                                                              cumulative=True)]),
                     "metrics", "exporter", now=NOW)
    assert day(store, "U0ANA")["tokens"] == 250  # 100, +60, +90; the replays add nothing


def test_points_naming_nobody_or_out_of_time_are_rejected_with_reasons(
        store: Store, identities: Identities) -> None:
    decoded = Decoded(points=[point(1, who={"user.id": "installation"}),
                              point(1, at=NOW + timedelta(minutes=11), series="s2"),
                              point(1, at=NOW - timedelta(days=401), series="s3")],
                      rejected=2, reasons=["2 points had no value"])
    counted = count_points(store, identities, decoded, "metrics", "exporter", now=NOW)
    rejected, message = partial_success(decoded, counted)
    assert (counted.counted, rejected) == (0, 5)
    assert [r.index for r in counted.rejected] == [0, 1, 2]
    assert message.startswith("2 points had no value; gemini_cli: a data point has no "
                              "user.email")
    assert "is timed in the future" in message
    assert "older than the 400-day retention window" in message
    assert store.reads.period_totals(day_bucket(NOW.date())).users == []
