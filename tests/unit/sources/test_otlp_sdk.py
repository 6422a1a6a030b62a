"""bot/sources/otlp: payloads from the real OpenTelemetry SDK (MeterProvider and
LoggerProvider encoded by the OTLP exporter's encoders), as protobuf and as JSON. Pure: no
Redis.
"""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider, UpDownCounter
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from opentelemetry.sdk.resources import Resource

from bot.sources.otlp import (
    Decoded,
    decode_logs,
    decode_metrics,
)
from tests.support.otlp_requests import (
    T1,
    by_key,
)

# ---------------------------------------------------------------------------------------
# payloads from the real OpenTelemetry SDK


def sdk_meter(temporality: AggregationTemporality) -> tuple[InMemoryMetricReader, Any]:
    reader = InMemoryMetricReader(preferred_temporality={
        Counter: temporality, Histogram: temporality, UpDownCounter: temporality})
    provider = MeterProvider(metric_readers=[reader], resource=Resource.create({
        "service.name": "claude-code", "user.email": "res@example.com"}))
    return reader, provider.get_meter("com.anthropic.claude_code", "2.1.0")


def collect(reader: InMemoryMetricReader, as_json: bool = False) -> Decoded:
    request = encode_metrics(reader.get_metrics_data())
    if as_json:
        return decode_metrics(json_format.MessageToJson(request).encode(), True)
    return decode_metrics(request.SerializeToString(), False)


WHO = {"user.email": "ana@example.com", "session.id": "sess-1", "model": "claude-sonnet-4-6"}


def record_round_one(meter: Any) -> Any:
    """Records the first round; returns the token counter for the next one."""
    tokens = meter.create_counter("claude_code.token.usage", unit="tokens")
    cost = meter.create_counter("claude_code.cost.usage", unit="USD")
    tokens.add(1200, {**WHO, "type": "input"})
    tokens.add(300, {**WHO, "type": "output"})
    tokens.add(800, {**WHO, "type": "input"})
    tokens.add(4000, {**WHO, "type": "cacheRead"})
    cost.add(0.25, WHO)
    cost.add(0.5, WHO)
    meter.create_histogram("gen_ai.client.token.usage", unit="{token}").record(
        100, {"gen_ai.token.type": "input", "gen_ai.request.model": "gpt-4o"})
    meter.create_up_down_counter("claude_code.session.count").add(1, WHO)  # refused
    meter.create_counter("claude_code.active_time.total").add(12.5, WHO)  # ignored
    return tokens


def values(decoded: Decoded) -> dict[tuple[str, str | None], float]:
    return {(p.quantity, p.token_type): p.value for p in decoded.points}


@pytest.mark.parametrize("as_json", [False, True])
def test_sdk_cumulative_payloads(as_json: bool) -> None:
    reader, meter = sdk_meter(AggregationTemporality.CUMULATIVE)
    tokens = record_round_one(meter)
    first = collect(reader, as_json)
    # gen_ai.client.token.usage is skipped: this resource is claude-code, with its own metric
    assert values(first) == {("tokens", "input"): 2000.0, ("tokens", "output"): 300.0,
                             ("tokens", "cache_read"): 4000.0, ("cost", None): 0.75}
    assert first.rejected == 1
    assert first.reasons == ["claude_code.session.count: non-monotonic sums are not counted "
                             "(only monotonic sums and histograms)"]
    assert all(p.cumulative and p.tool == "claude_code" for p in first.points)
    assert first.points[0].attributes == {"user.email": "ana@example.com",
                                          "session.id": "sess-1", "model": "claude-sonnet-4-6"}
    tokens.add(500, {**WHO, "type": "input"})
    second = collect(reader, as_json)
    assert values(second)["tokens", "input"] == 2500.0  # running total
    assert values(second)["tokens", "output"] == 300.0
    before = {(p.quantity, p.token_type): p for p in first.points}
    for point in second.points:
        old = before[point.quantity, point.token_type]
        assert point.series == old.series
        assert point.start_ns == old.start_ns  # same start: no reset
        assert point.time_ns > old.time_ns


@pytest.mark.parametrize("as_json", [False, True])
def test_sdk_delta_payloads(as_json: bool) -> None:
    reader, meter = sdk_meter(AggregationTemporality.DELTA)
    tokens = record_round_one(meter)
    first = collect(reader, as_json)
    assert values(first) == {("tokens", "input"): 2000.0, ("tokens", "output"): 300.0,
                             ("tokens", "cache_read"): 4000.0, ("cost", None): 0.75}
    assert not any(p.cumulative for p in first.points)
    tokens.add(500, {**WHO, "type": "input"})
    tokens.add(7, {**WHO, "type": "cacheCreation"})
    second = collect(reader, as_json)
    assert values(second) == {("tokens", "input"): 500.0, ("tokens", "cache_creation"): 7.0}
    first_input = by_key(first.points)["tokens", "input"]
    second_input = by_key(second.points)["tokens", "input"]
    assert second_input.series == first_input.series
    assert second_input.start_ns >= first_input.time_ns  # the next window


@pytest.mark.parametrize("temporality", [AggregationTemporality.DELTA,
                                         AggregationTemporality.CUMULATIVE])
def test_sdk_genai_histogram_and_gemini_counters(temporality: AggregationTemporality) -> None:
    reader = InMemoryMetricReader(preferred_temporality={Counter: temporality,
                                                         Histogram: temporality})
    provider = MeterProvider(metric_readers=[reader], resource=Resource.create({
        "service.name": "support-bot", "enduser.id": "ana@example.com"}))
    meter = provider.get_meter("opentelemetry.instrumentation.openai_v2")
    usage = meter.create_histogram("gen_ai.client.token.usage", unit="{token}")
    chat = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
            "gen_ai.response.model": "gpt-4o-2024-08-06"}
    usage.record(1000, {**chat, "gen_ai.token.type": "input"})
    usage.record(530, {**chat, "gen_ai.token.type": "input"})
    usage.record(212, {**chat, "gen_ai.token.type": "output"})
    gemini = provider.get_meter("gemini-cli")
    gemini.create_counter("gemini_cli.api.request.count").add(2, {"model": "gemini-2.5-pro"})
    decoded = collect(reader)
    cumulative = temporality == AggregationTemporality.CUMULATIVE
    assert sorted((p.tool, p.quantity, p.token_type, p.value, p.model, p.cumulative)
                  for p in decoded.points) == sorted([
        ("support-bot", "tokens", "input", 1530.0, "gpt-4o-2024-08-06", cumulative),
        ("support-bot", "tokens", "output", 212.0, "gpt-4o-2024-08-06", cumulative),
        ("gemini_cli", "requests", None, 2.0, "gemini-2.5-pro", cumulative)])
    assert {p.attributes.get("enduser.id") for p in decoded.points} == {"ana@example.com"}


def test_sdk_log_records() -> None:
    provider = LoggerProvider(resource=Resource.create({"service.name": "claude-code",
                                                        "user.email": "ana@example.com"}))
    exporter = InMemoryLogRecordExporter()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = provider.get_logger("com.anthropic.claude_code.events", "2.1.0")
    logger.emit(body="claude_code.api_request", timestamp=T1, attributes={
        "event.name": "api_request", "model": "claude-opus-4-7", "input_tokens": 12,
        "output_tokens": 34, "cache_read_tokens": 56, "cache_creation_tokens": 78,
        "cost_usd": 0.125, "request_id": "req_sdk_1", "session.id": "s"})
    logger.emit(body="claude_code.user_prompt", timestamp=T1,
                attributes={"event.name": "user_prompt", "prompt_length": "40"})
    request = encode_logs(exporter.get_finished_logs())
    for raw, is_json in ((request.SerializeToString(), False),
                         (json_format.MessageToJson(request).encode(), True)):
        decoded = decode_logs(raw, is_json)
        assert values(decoded) == {("tokens", "input"): 12.0, ("tokens", "output"): 34.0,
                                   ("tokens", "cache_read"): 56.0,
                                   ("tokens", "cache_creation"): 78.0, ("cost", None): 0.125,
                                   ("requests", None): 1.0}
        assert {p.event_id for p in decoded.points} == {"req_sdk_1"}
        assert {p.time_ns for p in decoded.points} == {T1}
        assert decoded.points[0].attributes == {"user.email": "ana@example.com",
                                                "session.id": "s", "model": "claude-opus-4-7"}
