"""Codex CLI, Cursor and GitHub Copilot over OTLP/HTTP end to end: exports recorded with the
real OpenTelemetry SDK as each tool sends them (through its OTLP/HTTP exporters where the
tool's own exporter is one), posted to the real server, exact totals on the boards."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    InMemoryMetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource

from bot.core.config import BoardConfig
from bot.core.periods import buckets_for_day, local_date
from tests.conftest import INGEST_TOKEN, App, http
from tests.support.otlp_exports import cursor_usage

AUTH = {"Authorization": f"Bearer {INGEST_TOKEN}"}
PROTO = {"Content-Type": "application/x-protobuf", **AUTH}
JSON = {"Content-Type": "application/json", **AUTH}
DELTA = {Counter: AggregationTemporality.DELTA, Histogram: AggregationTemporality.DELTA}


def board(app: App, metric: str = "tokens", scope: int = 0) -> dict[str, float]:
    key = app.deps.store.keys.board(metric, buckets_for_day(local_date(datetime.now(UTC),
                                                                       UTC))[scope])
    return {m.decode(): s for m, s in app.deps.store.r.zrange(key, 0, -1, withscores=True)}


def day(app: App, user: str) -> dict[str, float]:
    return app.deps.store.reads.day_counts(local_date(datetime.now(UTC), UTC), user)


def sdk_metrics(app: App, resource: dict[str, Any], delta: bool
                ) -> tuple[MeterProvider, PeriodicExportingMetricReader]:
    exporter = OTLPMetricExporter(endpoint=app.url + "/v1/metrics", headers=dict(AUTH),
                                  timeout=10, preferred_temporality=DELTA if delta else None)
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    return MeterProvider(resource=Resource.create(resource), metric_readers=[reader]), reader


@pytest.mark.slow
def test_codex_metrics_and_events_count_once_from_the_chosen_one(app: App) -> None:
    app.stub.add_user("U0ANA", real_name="Ana", email="ana@example.com")
    # [otel] metrics_exporter, with OTEL_RESOURCE_ATTRIBUTES=user.email=… (delta)
    provider, reader = sdk_metrics(app, {"service.name": "codex_cli_rs",
                                         "user.email": "ana@example.com"}, delta=True)
    usage = provider.get_meter("codex_otel").create_histogram("codex.turn.token_usage")
    for token_type, amount in {"total": 1300, "input": 1000, "cached_input": 400,
                               "output": 300, "reasoning_output": 100}.items():
        usage.record(amount, {"token_type": token_type, "model": "gpt-5-codex",
                              "originator": "codex_cli_rs"})
    # [otel] exporter: the log events, the person on each
    logs = LoggerProvider(resource=Resource.create({"service.name": "codex_cli_rs"}))
    logs.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(
        endpoint=app.url + "/v1/logs", headers=dict(AUTH), timeout=10)))
    completed = {"event.name": "codex.sse_event", "event.kind": "response.completed",
                 "event.timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
                 "conversation.id": "0199a213-81c0-7800-8aa1-bbab2a035a53",
                 "input_token_count": "1000", "output_token_count": "300",
                 "cached_token_count": 400, "reasoning_token_count": 100,
                 "tool_token_count": "0", "user.email": "ana@example.com",
                 "user.account_id": "acct_7f3a", "model": "gpt-5-codex"}
    try:
        assert reader.force_flush(timeout_millis=10_000)
        assert board(app) == {}  # codex_usage "events" (the default): the metrics wait
        for _ in range(2):  # the second is a retry of the same event: counted once
            logs.get_logger("codex_otel").emit(timestamp=time.time_ns(), attributes=completed)
        assert board(app) == {"U0ANA": 1300}  # input 1000 + output 300, nothing twice
        counts = day(app, "U0ANA")
        assert (counts["cached_input_tokens"], counts["reasoning_output_tokens"]) == (400, 100)
        assert counts["requests"] == 1
        app.deps.store.configs.save(BoardConfig(codex_usage="metrics"), by="test")
        for token_type, amount in {"total": 65, "input": 50, "output": 15}.items():
            usage.record(amount, {"token_type": token_type, "model": "gpt-5-codex",
                                  "originator": "codex_cli_rs"})
        assert reader.force_flush(timeout_millis=10_000)
        logs.get_logger("codex_otel").emit(timestamp=time.time_ns(), attributes={
            **completed, "event.timestamp": "later"})  # events no longer count
        assert board(app) == {"U0ANA": 1300 + 65}
    finally:
        provider.shutdown()
        logs.shutdown()


def partial(body: bytes) -> tuple[int, str]:
    answer = metrics_service_pb2.ExportMetricsServiceResponse.FromString(body)
    return answer.partial_success.rejected_data_points, answer.partial_success.error_message


@pytest.mark.slow
def test_a_cursor_user_id_is_named_until_linked_then_counted_for_the_person(app: App) -> None:
    reader = InMemoryMetricReader(preferred_temporality=DELTA)
    provider = MeterProvider(metric_readers=[reader], resource=Resource.create({
        "service.name": "cursor", "cursor.team.id": 77, "cursor.surface": "desktop",
        "cursor.entrypoint": "desktop", "cursor.user.id": 4821}))
    cursor_usage(provider)  # as Cursor's exporter records it
    body = encode_metrics(reader.get_metrics_data()).SerializeToString()
    provider.shutdown()
    answer = http("POST", app.url + "/v1/metrics", body, PROTO)
    assert answer.status == 200
    rejected, message = partial(answer.body)
    assert rejected == 0 and "cursor:4821" in message and "identities link" in message
    assert board(app) == {}
    app.deps.identities.link("U0CARA", "cursor:4821")
    assert board(app) == {"U0CARA": 10690} and board(app, scope=3) == {"U0CARA": 10690}
    assert board(app, "cost", scope=3)["U0CARA"] == pytest.approx(0.42)
    again = http("POST", app.url + "/v1/metrics", body, PROTO)  # Cursor's retry
    assert again.status == 200 and partial(again.body) == (0, "")
    assert board(app) == {"U0CARA": 10690}


@pytest.mark.slow
def test_copilot_chat_cumulative_and_the_copilot_cli_over_json_are_one_tool(app: App) -> None:
    app.stub.add_user("U0BO", real_name="Bo", email="bo@example.com")
    chat = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "github",
            "gen_ai.request.model": "gpt-4o"}
    # Copilot Chat in VS Code: cumulative histograms (the JS SDK's default), protobuf
    provider, reader = sdk_metrics(app, {"service.name": "copilot-chat",
                                         "user.email": "bo@example.com"}, delta=False)
    usage = provider.get_meter("copilot-chat").create_histogram("gen_ai.client.token.usage")
    try:
        usage.record(2500, {**chat, "gen_ai.token.type": "input"})
        usage.record(640, {**chat, "gen_ai.token.type": "output"})
        for _ in range(2):  # the second export repeats the running totals: nothing new
            assert reader.force_flush(timeout_millis=10_000)
        assert board(app) == {"U0BO": 3140}
        usage.record(60, {**chat, "gen_ai.token.type": "output"})
        assert reader.force_flush(timeout_millis=10_000)
        assert board(app) == {"U0BO": 3200}
    finally:
        provider.shutdown()
    # the Copilot CLI: OTLP/JSON, service.name github-copilot
    cli = InMemoryMetricReader()
    cli_provider = MeterProvider(metric_readers=[cli], resource=Resource.create({
        "service.name": "github-copilot", "user.email": "bo@example.com"}))
    cli_provider.get_meter("github-copilot").create_histogram(
        "gen_ai.client.token.usage").record(700, {**chat, "gen_ai.token.type": "input"})
    body = json_format.MessageToJson(encode_metrics(cli.get_metrics_data())).encode()
    cli_provider.shutdown()
    for _ in range(2):  # a replay of the same cumulative point adds nothing
        answer = http("POST", app.url + "/v1/metrics", body, JSON)
        assert answer.status == 200 and json.loads(answer.body or b"{}") == {}
    assert board(app) == {"U0BO": 3900}
    assert day(app, "U0BO")["input_tokens"] == 3200
    assert app.deps.store.pulls.tool_source("copilot") == "otlp"
