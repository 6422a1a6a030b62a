"""bot/sources/otlp (codex.py, metrics.py, logs.py): Codex CLI, Cursor and GitHub Copilot
(Chat in VS Code and the CLI) as each sends its telemetry, decoded to points. Pure: no Redis.

Exports are recorded with the real OpenTelemetry SDK (MeterProvider / LoggerProvider,
encoded by the OTLP exporter's own encoders) with the names, attributes and resources each
tool sends, and decoded in both encodings (binary protobuf and OTLP/JSON). Expected values
are worked out by hand from what was recorded.
"""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from opentelemetry.sdk.resources import Resource

from bot.sources.otlp import Decoded, Point, decode_logs, decode_metrics
from tests.support.paths import PAYLOADS as SUITE_PAYLOADS

PAYLOADS = SUITE_PAYLOADS / "otlp"
T1 = 1_789_332_654_000_000_000
DELTA, CUMULATIVE = AggregationTemporality.DELTA, AggregationTemporality.CUMULATIVE
ENCODINGS = pytest.mark.parametrize("as_json", [False, True], ids=["protobuf", "json"])


def reader_for(temporality: AggregationTemporality, resource: dict[str, Any]
               ) -> tuple[InMemoryMetricReader, MeterProvider]:
    reader = InMemoryMetricReader(preferred_temporality={Counter: temporality,
                                                         Histogram: temporality})
    return reader, MeterProvider(metric_readers=[reader], resource=Resource.create(resource))


def metrics_of(reader: InMemoryMetricReader, as_json: bool) -> Decoded:
    request = encode_metrics(reader.get_metrics_data())
    if as_json:
        return decode_metrics(json_format.MessageToJson(request).encode(), True)
    return decode_metrics(request.SerializeToString(), False)


def logs_of(exporter: InMemoryLogRecordExporter, as_json: bool) -> Decoded:
    request = encode_logs(exporter.get_finished_logs())
    if as_json:
        return decode_logs(json_format.MessageToJson(request).encode(), True)
    return decode_logs(request.SerializeToString(), False)


def values(points: list[Point]) -> dict[tuple[str, str, str | None], float]:
    out: dict[tuple[str, str, str | None], float] = {}
    for p in points:
        key = (p.tool, p.quantity, p.token_type)
        out[key] = out.get(key, 0.0) + p.value
    return out


# ---------------------------------------------------------------------------------------
# Codex CLI: metrics (codex.turn.token_usage) and events (codex.sse_event)

# One turn as Codex accounts it: input 1000 of which 400 cached, output 300 of which 100
# reasoning, total 1300 = input + output.
CODEX_TURN = {"total": 1300, "input": 1000, "cached_input": 400, "output": 300,
              "reasoning_output": 100}
CODEX_RESOURCE = {"service.name": "codex_cli_rs", "service.version": "0.58.0",
                  "env": "dev", "user.email": "ana@example.com"}  # via OTEL_RESOURCE_ATTRIBUTES
CODEX_TAGS = {"auth_mode": "ChatGPT", "session_source": "cli", "originator": "codex_cli_rs",
              "model": "gpt-5-codex", "app.version": "0.58.0", "tmp_mem_enabled": "false"}


def record_codex_turn(provider: MeterProvider) -> None:
    histogram = provider.get_meter("codex_otel").create_histogram("codex.turn.token_usage")
    for token_type, amount in CODEX_TURN.items():
        histogram.record(amount, {**CODEX_TAGS, "token_type": token_type})


@ENCODINGS
def test_codex_turn_token_usage_counts_input_and_output_and_keeps_the_parts_apart(
        as_json: bool) -> None:
    reader, provider = reader_for(DELTA, CODEX_RESOURCE)
    record_codex_turn(provider)
    provider.get_meter("codex_otel").create_counter("codex.turn.cost_microusd").add(
        12_345, {**CODEX_TAGS, "turn.id": "t1", "conversation.id": "c1"})
    provider.get_meter("codex_otel").create_counter("codex.tool.call").add(3)  # not ours
    decoded = metrics_of(reader, as_json)
    assert (decoded.rejected, decoded.reasons) == (0, [])  # `total` is left out silently
    assert values(decoded.points) == {
        ("codex", "tokens", "input"): 1000.0, ("codex", "tokens", "output"): 300.0,
        ("codex", "tokens", "cached_input"): 400.0,
        ("codex", "tokens", "reasoning_output"): 100.0,
        ("codex", "cost", None): pytest.approx(0.012345)}
    assert not any(p.cumulative for p in decoded.points)
    # the person only as the resource says (Codex puts nobody on its metrics)
    assert {p.attributes.get("user.email") for p in decoded.points} == {"ana@example.com"}
    assert {p.model for p in decoded.points} == {"gpt-5-codex"}


def test_codex_metrics_without_a_person_carry_no_identity() -> None:
    reader, provider = reader_for(DELTA, {"service.name": "codex_cli_rs"})
    record_codex_turn(provider)
    decoded = metrics_of(reader, False)
    assert decoded.points and all(
        set(p.attributes) <= {"model"} for p in decoded.points)


def codex_events(resource: dict[str, Any], events: list[dict[str, Any]],
                 ) -> InMemoryLogRecordExporter:
    """Log records as Codex's tracing bridge emits them: every field an attribute (the
    `%`-formatted counts as text, the optional ones as ints), no body."""
    provider = LoggerProvider(resource=Resource.create(resource))
    exporter = InMemoryLogRecordExporter()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = provider.get_logger("codex_otel::otel_event_manager")
    for attributes in events:
        logger.emit(timestamp=T1, observed_timestamp=T1 + 5_000_000, attributes=attributes)
    return exporter


CODEX_META = {"conversation.id": "0199a213-81c0-7800-8aa1-bbab2a035a53",
              "app.version": "0.58.0", "auth_mode": "ChatGPT", "originator": "codex_cli_rs",
              "user.account_id": "acct_7f3a", "user.email": "ana@example.com",
              "terminal.type": "iTerm.app/3.6", "model": "gpt-5-codex", "slug": "gpt-5-codex"}


def completed(stamp: str, **counts: Any) -> dict[str, Any]:
    return {"event.name": "codex.sse_event", "event.kind": "response.completed",
            "event.timestamp": stamp, **counts, **CODEX_META}


COMPLETED_1 = completed("2026-11-24T15:00:01.120Z", input_token_count="1000",
                        output_token_count="300", cached_token_count=400,
                        reasoning_token_count=100, tool_token_count="0")


@ENCODINGS
def test_codex_sse_event_of_a_completed_response(as_json: bool) -> None:
    other_kinds = [
        {"event.name": "codex.sse_event", "event.kind": "response.output_item.done",
         "duration_ms": "12", **CODEX_META},
        {"event.name": "codex.api_request", "duration_ms": "900", "attempt": 1, **CODEX_META},
        {"event.name": "codex.user_prompt", "prompt_length": "42", "prompt": "[REDACTED]",
         **CODEX_META},
        # a completed response that failed: no counts, nothing to count or refuse
        {"event.name": "codex.sse_event", "event.kind": "response.completed",
         "error.message": "stream closed", **CODEX_META}]
    exporter = codex_events({"service.name": "codex_cli_rs"}, [COMPLETED_1, *other_kinds])
    decoded = logs_of(exporter, as_json)
    assert (decoded.rejected, decoded.reasons) == (0, [])
    assert values(decoded.points) == {
        ("codex", "tokens", "input"): 1000.0, ("codex", "tokens", "output"): 300.0,
        ("codex", "tokens", "cached_input"): 400.0,
        ("codex", "tokens", "reasoning_output"): 100.0, ("codex", "requests", None): 1.0}
    assert {p.event_id for p in decoded.points} == {
        "codex:0199a213-81c0-7800-8aa1-bbab2a035a53:2026-11-24T15:00:01.120Z"}
    assert {p.time_ns for p in decoded.points} == {T1}
    assert decoded.points[0].attributes == {"user.email": "ana@example.com",
                                            "user.account_id": "acct_7f3a",
                                            "model": "gpt-5-codex"}


def test_codex_events_without_optional_counts_or_ids() -> None:
    bare = {"event.name": "codex.sse_event", "event.kind": "response.completed",
            "input_token_count": "70", "output_token_count": "9", "user.account_id": "a1"}
    decoded = logs_of(codex_events({"service.name": "codex_exec"}, [bare]), False)
    assert values(decoded.points) == {("codex", "tokens", "input"): 70.0,
                                      ("codex", "tokens", "output"): 9.0,
                                      ("codex", "requests", None): 1.0}
    again = logs_of(codex_events({"service.name": "codex_exec"}, [bare]), False)
    digest_id = {p.event_id for p in decoded.points}
    assert len(digest_id) == 1 and None not in digest_id
    assert digest_id == {p.event_id for p in again.points}


def test_codex_event_with_a_bad_count_is_refused_whole() -> None:
    bad = completed("2026-11-24T15:00:02Z", input_token_count="lots", output_token_count="3")
    decoded = logs_of(codex_events({"service.name": "codex_cli_rs"}, [bad, COMPLETED_1]), False)
    assert decoded.rejected == 1
    assert decoded.reasons == ["codex.sse_event: input_token_count is not a number ('lots')"]
    assert values(decoded.points)["codex", "tokens", "input"] == 1000.0


# ---------------------------------------------------------------------------------------
# Cursor (Enterprise OpenTelemetry export: OTLP/HTTP protobuf, delta)

CURSOR_RESOURCE = {"service.name": "cursor", "service.version": "2.1.4", "cursor.team.id": 77,
                   "cursor.surface": "desktop", "cursor.entrypoint": "desktop",
                   "cursor.user.id": 4821}


@ENCODINGS
@pytest.mark.parametrize("temporality", [DELTA, CUMULATIVE])
def test_cursor_tokens_by_type_cost_and_its_own_user_id(
        as_json: bool, temporality: AggregationTemporality) -> None:
    reader, provider = reader_for(temporality, CURSOR_RESOURCE)
    meter = provider.get_meter("cursor.telemetry", "0.1.0")
    tokens = meter.create_counter("cursor.token.usage", unit="{token}")
    for token_type, amount in {"input": 1200, "output": 340, "cache_read": 9000,
                               "cache_creation": 150}.items():
        tokens.add(amount, {"cursor.token.type": token_type, "model": "claude-4.5-sonnet"})
    meter.create_counter("cursor.cost.usage", unit="USD").add(0.42, {"model": "gpt-5"})
    decoded = metrics_of(reader, as_json)
    assert (decoded.rejected, decoded.reasons) == (0, [])
    assert values(decoded.points) == {
        ("cursor", "tokens", "input"): 1200.0, ("cursor", "tokens", "output"): 340.0,
        ("cursor", "tokens", "cache_read"): 9000.0, ("cursor", "tokens", "cache_creation"): 150.0,
        ("cursor", "cost", None): 0.42}
    assert {p.cumulative for p in decoded.points} == {temporality == CUMULATIVE}
    # an int on the resource, as Cursor sends it, as text
    assert {p.attributes.get("cursor.user.id") for p in decoded.points} == {"4821"}


def test_cursor_unknown_token_type_is_refused_with_its_reason() -> None:
    reader, provider = reader_for(DELTA, CURSOR_RESOURCE)
    provider.get_meter("cursor.telemetry").create_counter("cursor.token.usage").add(
        5, {"cursor.token.type": "mystery"})
    decoded = metrics_of(reader, False)
    assert decoded.points == [] and decoded.rejected == 1
    assert "unknown cursor.token.type 'mystery'" in decoded.reasons[0]


# ---------------------------------------------------------------------------------------
# GitHub Copilot: Chat in VS Code (copilot-chat) and the CLI (github-copilot), gen_ai.*

def record_copilot(provider: MeterProvider) -> Any:
    usage = provider.get_meter("copilot-chat").create_histogram(
        "gen_ai.client.token.usage", unit="{token}")
    chat = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "github",
            "gen_ai.request.model": "gpt-4o", "server.address": "api.githubcopilot.com"}
    usage.record(2500, {**chat, "gen_ai.token.type": "input"})  # cached tokens included
    usage.record(1500, {**chat, "gen_ai.token.type": "input"})
    usage.record(640, {**chat, "gen_ai.token.type": "output"})
    provider.get_meter("copilot-chat").create_counter("copilot_chat.tool.call.count").add(4)
    return usage


@ENCODINGS
@pytest.mark.parametrize("service", ["copilot-chat", "github-copilot"])
@pytest.mark.parametrize("temporality", [CUMULATIVE, DELTA])
def test_copilot_chat_and_cli_are_one_tool(as_json: bool, service: str,
                                           temporality: AggregationTemporality) -> None:
    reader, provider = reader_for(temporality, {"service.name": service,
                                                "session.id": "w-1"})
    record_copilot(provider)
    decoded = metrics_of(reader, as_json)
    assert values(decoded.points) == {("copilot", "tokens", "input"): 4000.0,
                                      ("copilot", "tokens", "output"): 640.0}
    assert {p.cumulative for p in decoded.points} == {temporality == CUMULATIVE}
    assert {p.model for p in decoded.points} == {"gpt-4o"}


def test_a_cumulative_copilot_series_keeps_its_series_and_start() -> None:
    reader, provider = reader_for(CUMULATIVE, {"service.name": "copilot-chat",
                                               "user.email": "bo@example.com"})
    usage = record_copilot(provider)
    first = metrics_of(reader, False)
    usage.record(60, {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "github",
                      "gen_ai.request.model": "gpt-4o",
                      "server.address": "api.githubcopilot.com", "gen_ai.token.type": "output"})
    second = metrics_of(reader, False)
    out1 = next(p for p in first.points if p.token_type == "output")
    out2 = next(p for p in second.points if p.token_type == "output")
    assert (out1.value, out2.value) == (640.0, 700.0)  # running totals
    assert (out2.series, out2.start_ns) == (out1.series, out1.start_ns)
    assert out1.attributes == {"user.email": "bo@example.com"}


# ---------------------------------------------------------------------------------------
# the suite's own OTLP/JSON exports (tests/payloads/otlp), as Codex (protocol "json") and
# the Copilot CLI send them

def test_codexs_own_events_export_over_otlp_json() -> None:
    decoded = decode_logs((PAYLOADS / "logs.codex.json").read_bytes(), True)
    assert (decoded.rejected, decoded.reasons) == (0, [])
    # two completed responses; the created one, the tool result and the failed completion
    # are not counted
    assert values(decoded.points) == {
        ("codex", "tokens", "input"): 18422.0 + 19530.0,
        ("codex", "tokens", "output"): 913.0 + 267.0,
        ("codex", "tokens", "cached_input"): 15104.0,
        ("codex", "tokens", "reasoning_output"): 448.0,
        ("codex", "requests", None): 2.0}
    assert len({p.event_id for p in decoded.points}) == 2
    assert {p.attributes["user.email"] for p in decoded.points} == {
        "mara.okafor@nimbus-works.example"}


def test_the_copilot_clis_own_metrics_export_over_otlp_json() -> None:
    decoded = decode_metrics((PAYLOADS / "metrics.copilot_cli.json").read_bytes(), True)
    assert (decoded.rejected, decoded.reasons) == (0, [])
    assert values(decoded.points) == {("copilot", "tokens", "input"): 61240.0,
                                      ("copilot", "tokens", "output"): 1867.0}
    assert all(p.cumulative for p in decoded.points)
    assert {p.attributes["user.email"] for p in decoded.points} == {
        "mara.okafor@nimbus-works.example"}
