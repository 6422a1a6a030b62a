"""bot.intake.telemetry for Codex, Cursor and GitHub Copilot: who each export is for, what it
adds to whose day, once (real Redis; identities without Slack). The exports are recorded
with the OpenTelemetry SDK as each tool sends them and decoded by bot.sources.otlp;
expectations are worked out by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from opentelemetry.sdk.resources import Resource

from bot.core.config import BoardConfig
from bot.intake.identities import Identities
from bot.intake.scoring import ConfigInvalid, merge_config, validate_config
from bot.intake.telemetry import count_points, counted_here, identity_of, usage_fields
from bot.sources.otlp import Decoded, Point, decode_logs, decode_metrics
from bot.store.store import Store
from bot.web.otlp_routes import partial_success
from tests.support.otlp_exports import cursor_usage


@pytest.mark.parametrize("attributes, expected", [
    ({"cursor.user.id": "4821"}, "cursor:4821"),
    ({"cursor.user.id": "4821", "user.email": "Ana@X.com"}, "email:ana@x.com"),
    ({"cursor.user.id": "4821", "user.account_id": "acct_7f3a"}, "otel:acct_7f3a"),
    ({"cursor.user.id": " "}, None),
])
def test_cursors_own_user_id_is_an_identity_of_its_own(attributes: dict[str, str],
                                                       expected: str | None) -> None:
    assert identity_of(attributes) == expected


def point(token_type: str | None, tool: str = "codex", quantity: str = "tokens") -> Point:
    return Point(tool=tool, quantity=quantity, token_type=token_type, value=1.0,
                 cumulative=False, start_ns=0, time_ns=1, attributes={}, model=None,
                 series="s", event_id=None)


@pytest.mark.parametrize("token_type", ["cached_input", "reasoning_output"])
def test_parts_of_another_token_type_are_kept_but_never_added_to_tokens(
        token_type: str) -> None:
    for config in (BoardConfig(), BoardConfig(token_types=["input", "output"])):
        assert usage_fields(point(token_type), config) == ((f"{token_type}_tokens", 1.0),)
    assert usage_fields(point("input"), BoardConfig()) == (
        ("input_tokens", 1.0), ("tokens", 1.0), ("t:cx", 1.0))  # and Codex's (cx) share


@pytest.mark.parametrize(("setting", "signal", "quantity", "counted"), [
    ("events", "logs", "tokens", True), ("events", "logs", "requests", True),
    ("events", "metrics", "tokens", False),
    ("events", "metrics", "cost", True),  # only the metrics carry a cost
    ("metrics", "metrics", "tokens", True), ("metrics", "logs", "tokens", False),
    ("metrics", "logs", "requests", False),
])
def test_codex_counts_its_tokens_from_events_or_from_metrics(
        setting: str, signal: str, quantity: str, counted: bool) -> None:
    config = BoardConfig(codex_usage=setting)
    assert counted_here(point("input" if quantity == "tokens" else None, quantity=quantity),
                        config, signal) is counted


def test_codex_usage_defaults_to_events_and_imports_like_every_setting() -> None:
    assert BoardConfig().codex_usage == "events"
    exported = BoardConfig(codex_usage="metrics").model_dump(mode="json")
    assert exported["codex_usage"] == "metrics"
    assert validate_config(merge_config(BoardConfig(), {"codex_usage": "metrics"})) \
        .codex_usage == "metrics"
    with pytest.raises(ConfigInvalid) as refused:
        validate_config(merge_config(BoardConfig(), {"codex_usage": "both"}))
    assert "codex_usage" in str(refused.value.problems)


# ---------------------------------------------------------------------------------------
# exports, as the tools send them

def metrics_export(resource: dict[str, Any], record, temporality=AggregationTemporality.DELTA
                   ) -> tuple[InMemoryMetricReader, Any]:
    reader = InMemoryMetricReader(preferred_temporality={Counter: temporality,
                                                         Histogram: temporality})
    provider = MeterProvider(metric_readers=[reader], resource=Resource.create(resource))
    handle = record(provider)
    return reader, handle


def decoded_metrics(reader: InMemoryMetricReader) -> Decoded:
    return decode_metrics(encode_metrics(reader.get_metrics_data()).SerializeToString(), False)


def codex_turn(provider: MeterProvider) -> None:
    meter = provider.get_meter("codex_otel")
    usage = meter.create_histogram("codex.turn.token_usage")
    for token_type, amount in {"total": 1300, "input": 1000, "cached_input": 400,
                               "output": 300, "reasoning_output": 100}.items():
        usage.record(amount, {"token_type": token_type, "model": "gpt-5-codex"})
    meter.create_counter("codex.turn.cost_microusd").add(25_000, {"turn.id": "t1"})


def codex_events() -> Decoded:
    provider = LoggerProvider(resource=Resource.create({"service.name": "codex_cli_rs"}))
    exporter = InMemoryLogRecordExporter()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    provider.get_logger("codex_otel").emit(attributes={
        "event.name": "codex.sse_event", "event.kind": "response.completed",
        "event.timestamp": "2026-11-24T15:00:01.120Z", "conversation.id": "conv-1",
        "input_token_count": "1000", "output_token_count": "300", "cached_token_count": 400,
        "reasoning_token_count": 100, "tool_token_count": "0",
        "user.email": "ana@example.com", "user.account_id": "acct_7f3a",
        "model": "gpt-5-codex"})
    return decode_logs(encode_logs(exporter.get_finished_logs()).SerializeToString(), False)


def day_of(decoded: Decoded) -> date:
    return datetime.fromtimestamp(decoded.points[0].time_ns / 1e9, UTC).date()


CODEX_RESOURCE = {"service.name": "codex_cli_rs", "user.email": "ana@example.com"}


def test_codex_metrics_and_events_count_once_from_the_events_by_default(
        store: Store, identities: Identities) -> None:
    store.slack_cache.put_email("ana@example.com", "U0ANA")
    metrics = decoded_metrics(metrics_export(CODEX_RESOURCE, codex_turn)[0])
    events = codex_events()
    for _ in range(2):  # the exporter's retry: duplicates
        count_points(store, identities, metrics, "metrics", "codex")
        count_points(store, identities, events, "logs", "codex")
    day = store.reads.day_counts(day_of(events), "U0ANA")
    assert (day["tokens"], day["input_tokens"], day["output_tokens"]) == (1300, 1000, 300)
    assert (day["cached_input_tokens"], day["reasoning_output_tokens"]) == (400, 100)
    assert day["requests"] == 1
    assert day["cost"] == pytest.approx(0.025)  # only the metrics carry a cost


def test_codex_metrics_count_when_chosen_and_events_do_not(store: Store,
                                                          identities: Identities) -> None:
    store.configs.save(BoardConfig(codex_usage="metrics"), by="test")
    store.slack_cache.put_email("ana@example.com", "U0ANA")
    metrics = decoded_metrics(metrics_export(CODEX_RESOURCE, codex_turn)[0])
    events = codex_events()
    count_points(store, identities, events, "logs", "codex")
    assert store.reads.day_counts(day_of(events), "U0ANA") == {}
    counted = count_points(store, identities, metrics, "metrics", "codex")
    assert counted.rejected == []
    day = store.reads.day_counts(day_of(metrics), "U0ANA")
    assert (day["tokens"], day["cached_input_tokens"], day["reasoning_output_tokens"]) == (
        1300, 400, 100)
    assert "requests" not in day


def test_a_cursor_id_is_kept_for_nobody_named_and_credited_when_linked(
        store: Store, identities: Identities) -> None:
    decoded = decoded_metrics(metrics_export({"service.name": "cursor", "cursor.team.id": 77,
                                              "cursor.user.id": 4821}, cursor_usage)[0])
    counted = count_points(store, identities, decoded, "metrics", "cursor")
    rejected, message = partial_success(decoded, counted)
    assert (counted.counted, rejected, counted.unmapped) == (5, 0, ["cursor:4821"])
    assert "kept for nobody until an admin links them" in message and "cursor:4821" in message
    assert store.reads.day_counts(day_of(decoded), "U0CARA") == {}
    assert identities.link("U0CARA", "cursor:4821").days_credited == 1
    day = store.reads.day_counts(day_of(decoded), "U0CARA")
    assert day["tokens"] == 1200 + 340 + 9000 + 150  # every Cursor type counts by default
    assert (day["cache_read_tokens"], day["cost"]) == (9000, pytest.approx(0.42))
    again = count_points(store, identities, decoded, "metrics", "cursor")  # a retry
    assert (again.counted, again.unmapped) == (0, [])
    assert store.reads.day_counts(day_of(decoded), "U0CARA")["tokens"] == 10690


def copilot_chat(provider: MeterProvider) -> Any:
    usage = provider.get_meter("copilot-chat").create_histogram("gen_ai.client.token.usage")
    usage.record(2500, {"gen_ai.token.type": "input", "gen_ai.request.model": "gpt-4o"})
    usage.record(640, {"gen_ai.token.type": "output", "gen_ai.request.model": "gpt-4o"})
    return usage


def test_a_replayed_cumulative_copilot_series_counts_once(store: Store,
                                                         identities: Identities) -> None:
    store.slack_cache.put_email("bo@example.com", "U0BO")
    reader, usage = metrics_export({"service.name": "copilot-chat",
                                    "user.email": "bo@example.com"}, copilot_chat,
                                   AggregationTemporality.CUMULATIVE)
    first = decoded_metrics(reader)
    for _ in range(3):  # retries and replays of the same running totals
        count_points(store, identities, first, "metrics", "copilot")
    assert store.reads.day_counts(day_of(first), "U0BO")["tokens"] == 3140
    usage.record(60, {"gen_ai.token.type": "output", "gen_ai.request.model": "gpt-4o"})
    second = decoded_metrics(reader)
    count_points(store, identities, second, "metrics", "copilot")
    count_points(store, identities, first, "metrics", "copilot")  # an old export, late
    day = store.reads.day_counts(day_of(second), "U0BO")
    assert (day["tokens"], day["input_tokens"], day["output_tokens"]) == (3200, 2500, 700)
    assert store.pulls.tool_source("copilot") == "otlp"  # heard first: it holds copilot


@pytest.mark.parametrize("tool, record, resource", [
    ("copilot", copilot_chat, {"service.name": "github-copilot",
                               "user.email": "bo@example.com"}),
    ("cursor", cursor_usage, {"service.name": "cursor", "cursor.user.id": 4821}),
    # an app on OpenAI's SDK exporting gen_ai.* metrics, while OpenAI's Usage API holds it
    ("openai", copilot_chat, {"service.name": "openai", "user.email": "bo@example.com"}),
])
def test_copilot_and_cursor_count_from_one_source_only(store: Store, identities: Identities,
                                                       tool: str, record,
                                                       resource: dict[str, Any]) -> None:
    store.configs.save(BoardConfig(tool_sources={tool: tool}), by="test")  # the vendor pull
    decoded = decoded_metrics(metrics_export(resource, record)[0])
    counted = count_points(store, identities, decoded, "metrics", tool)
    assert (counted.counted, counted.rejected, counted.unmapped) == (0, [], [])
