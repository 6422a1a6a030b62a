"""bot/sources/otlp.py: OTLP/HTTP bodies → points, and the responses. Pure: no Redis.

Payloads come from four places: the suite's own OTLP/JSON exports (tests/payloads/otlp:
another service's, with every metric and value type, and Claude Code's), requests built with
the generated protobuf classes, hand-written OTLP/JSON, and the real OpenTelemetry SDK
(MeterProvider / LoggerProvider encoded by the OTLP exporter's encoders). Tests marked
`reference` also run the OpenTelemetry project's own examples from ../shared/fixtures/otlp
(tests/reference.py: skipped without them, a failure in CI).
"""

from __future__ import annotations

import base64
import copy
import gzip
import json
import math
import tracemalloc
import zlib
from typing import Any

import pytest
from google.protobuf import json_format
from google.rpc import status_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider, UpDownCounter
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from opentelemetry.sdk.resources import Resource

from bot.sources.otlp import (
    Decoded,
    OtlpError,
    Point,
    decode_logs,
    decode_metrics,
    logs_response,
    metrics_response,
    parse_logs_request,
    parse_metrics_request,
    status_body,
    unpack_body,
)
from tests.reference import reference_dir, shape_differences
from tests.support.paths import PAYLOADS as SUITE_PAYLOADS

PAYLOADS = SUITE_PAYLOADS / "otlp"
DELTA = metrics_pb2.AGGREGATION_TEMPORALITY_DELTA
CUMULATIVE = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
T0 = 1_789_332_594_000_000_000
T1 = T0 + 60_000_000_000
MIB = 1024 * 1024


# ---------------------------------------------------------------------------------------
# builders


def anyvalue(value: Any) -> common_pb2.AnyValue:
    if isinstance(value, bool):
        return common_pb2.AnyValue(bool_value=value)
    if isinstance(value, int):
        return common_pb2.AnyValue(int_value=value)
    if isinstance(value, float):
        return common_pb2.AnyValue(double_value=value)
    return common_pb2.AnyValue(string_value=value)


def kvs(attrs: dict[str, Any]) -> list[common_pb2.KeyValue]:
    return [common_pb2.KeyValue(key=k, value=anyvalue(v)) for k, v in attrs.items()]


def number_point(value: float | int, attrs: dict[str, Any], start: int = T0,
                 time_ns: int = T1) -> metrics_pb2.NumberDataPoint:
    point = metrics_pb2.NumberDataPoint(attributes=kvs(attrs), start_time_unix_nano=start,
                                        time_unix_nano=time_ns)
    if isinstance(value, int):
        point.as_int = value
    else:
        point.as_double = value
    return point


def sum_metric(name: str, points: list[metrics_pb2.NumberDataPoint],
               temporality: int = DELTA, monotonic: bool = True) -> metrics_pb2.Metric:
    return metrics_pb2.Metric(name=name, sum=metrics_pb2.Sum(
        data_points=points, aggregation_temporality=temporality, is_monotonic=monotonic))


def histogram_metric(name: str, sums: list[tuple[float, dict[str, Any]]],
                     temporality: int = DELTA) -> metrics_pb2.Metric:
    points = [metrics_pb2.HistogramDataPoint(
        attributes=kvs(attrs), start_time_unix_nano=T0, time_unix_nano=T1, count=3, sum=total,
        bucket_counts=[1, 2], explicit_bounds=[10.0]) for total, attrs in sums]
    return metrics_pb2.Metric(name=name, histogram=metrics_pb2.Histogram(
        data_points=points, aggregation_temporality=temporality))


def metrics_request(metrics: list[metrics_pb2.Metric], resource: dict[str, Any] | None = None,
                    scope: str = "com.anthropic.claude_code") -> bytes:
    request = metrics_service_pb2.ExportMetricsServiceRequest(resource_metrics=[
        metrics_pb2.ResourceMetrics(
            resource=resource_pb2.Resource(attributes=kvs(resource or {})),
            scope_metrics=[metrics_pb2.ScopeMetrics(
                scope=common_pb2.InstrumentationScope(name=scope, version="2.1.0"),
                metrics=metrics)])])
    return request.SerializeToString()


def log_record(attrs: dict[str, Any], body: str | None = "claude_code.api_request",
               time_ns: int = T1, observed_ns: int = T1 + 5) -> logs_pb2.LogRecord:
    record = logs_pb2.LogRecord(time_unix_nano=time_ns, observed_time_unix_nano=observed_ns,
                                attributes=kvs(attrs))
    if body is not None:
        record.body.string_value = body
    return record


def logs_request(records: list[logs_pb2.LogRecord], resource: dict[str, Any] | None = None,
                 scope: str = "com.anthropic.claude_code.events") -> bytes:
    request = logs_service_pb2.ExportLogsServiceRequest(resource_logs=[logs_pb2.ResourceLogs(
        resource=resource_pb2.Resource(attributes=kvs(resource or {})),
        scope_logs=[logs_pb2.ScopeLogs(scope=common_pb2.InstrumentationScope(name=scope),
                                       log_records=records)])])
    return request.SerializeToString()


def by_key(points: list[Point]) -> dict[tuple[str, str | None], Point]:
    keyed = {(p.quantity, p.token_type): p for p in points}
    assert len(keyed) == len(points), "two points share (quantity, token_type)"
    return keyed


CLAUDE_ID = {"user.email": "ana@example.com", "user.account_uuid": "acc-1",
             "user.id": "dev-9", "organization.id": "org-1", "session.id": "sess-1"}


# ---------------------------------------------------------------------------------------
# unpack_body


def test_content_types_with_parameters_and_case() -> None:
    assert unpack_body(b"x", "application/x-protobuf", "", 10) == (b"x", False)
    assert unpack_body(b"{}", "Application/JSON; charset=utf-8", "", 10) == (b"{}", True)
    assert unpack_body(b"x", " application/x-protobuf ;q=1", "identity", 10) == (b"x", False)


@pytest.mark.parametrize("content_type", ["", "text/plain", "application/protobuf",
                                          "application/grpc", "multipart/form-data"])
def test_other_content_types_are_415(content_type: str) -> None:
    with pytest.raises(OtlpError) as err:
        unpack_body(b"{}", content_type, "", 100)
    assert err.value.status == 415
    assert "application/x-protobuf" in err.value.message


@pytest.mark.parametrize("encoding", ["br", "deflate", "zstd", "gzip, br"])
def test_other_content_encodings_are_415(encoding: str) -> None:
    with pytest.raises(OtlpError) as err:
        unpack_body(b"{}", "application/json", encoding, 100)
    assert err.value.status == 415


def test_plain_body_over_the_cap_is_413() -> None:
    assert unpack_body(b"a" * 100, "application/json", "", 100)[0] == b"a" * 100
    with pytest.raises(OtlpError) as err:
        unpack_body(b"a" * 101, "application/json", "", 100)
    assert err.value.status == 413


def test_gzip_is_decompressed_and_the_cap_applies_after_decompression() -> None:
    payload = metrics_request([sum_metric("claude_code.cost.usage",
                                          [number_point(0.5, CLAUDE_ID)])])
    for encoding in ("gzip", "GZIP", "x-gzip"):
        raw, is_json = unpack_body(gzip.compress(payload), "application/x-protobuf", encoding,
                                 len(payload))
        assert (raw, is_json) == (payload, False)
    assert decode_metrics(raw, False).points[0].value == 0.5
    compressed = gzip.compress(b"z" * 1000)
    assert len(compressed) < 100
    assert unpack_body(compressed, "application/json", "gzip", 1000)[0] == b"z" * 1000
    with pytest.raises(OtlpError) as err:
        unpack_body(compressed, "application/json", "gzip", 999)
    assert err.value.status == 413


def test_concatenated_gzip_members_are_one_body() -> None:
    body = gzip.compress(b'{"resourceMetrics":') + gzip.compress(b"[]}")
    assert unpack_body(body, "application/json", "gzip", 100)[0] == b'{"resourceMetrics":[]}'
    with pytest.raises(OtlpError) as err:
        unpack_body(body, "application/json", "gzip", 20)
    assert err.value.status == 413


@pytest.mark.parametrize("body", [
    b"not gzip at all",
    gzip.compress(b"x" * 1000)[:-12],  # truncated
    gzip.compress(b"abc") + b"trailing garbage",
])
def test_broken_gzip_is_400(body: bytes) -> None:
    with pytest.raises(OtlpError) as err:
        unpack_body(body, "application/json", "gzip", 10_000)
    assert err.value.status == 400


def test_gzip_bomb_is_refused_quickly_without_inflating_it() -> None:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(MIB)
    bomb = b"".join(compressor.compress(zeros) for _ in range(100)) + compressor.flush()
    assert len(bomb) < 200_000  # 100 MiB of zeros
    tracemalloc.start()
    try:
        with pytest.raises(OtlpError) as err:
            unpack_body(bomb, "application/x-protobuf", "gzip", 4 * MIB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert err.value.status == 413
    assert peak < 3 * 4 * MIB  # the cap (+1 byte) and its join, never 100 MiB


# ---------------------------------------------------------------------------------------
# the suite's own OTLP/JSON payloads (tests/payloads/otlp): another service's export, with
# every metric type and attribute value type, and Claude Code's own export

T_CLAUDE = 1_741_710_000_000_000_000  # 2025-03-11T16:20:00Z
T_APP = 1_741_683_600_000_000_000  # 2025-03-11T09:00:00Z


def payload(name: str) -> bytes:
    return (PAYLOADS / name).read_bytes()


def test_another_services_export_decodes_and_nothing_in_it_is_counted() -> None:
    assert decode_metrics(payload("metrics.generic.json"), True) == Decoded([], 0, [])
    assert decode_logs(payload("logs.generic.json"), True) == Decoded([], 0, [])


def test_every_metric_type_under_a_counted_name() -> None:
    """The generic export's monotonic sum, gauge, histogram, exponential histogram,
    non-monotonic sum and summary, renamed to a metric we count: the sum and both
    histograms' sums count; the gauge, the non-monotonic sum and the summary are refused."""
    doc = json.loads(payload("metrics.generic.json"))
    for metric in doc["resourceMetrics"][0]["scopeMetrics"][0]["metrics"]:
        metric["name"] = "claude_code.session.count"
    decoded = decode_metrics(json.dumps(doc).encode(), True)
    assert [(p.quantity, p.value, p.cumulative) for p in decoded.points] == [
        ("sessions", 1893.4, False), ("sessions", 1.75, False), ("sessions", 0.51, False)]
    assert {(p.start_ns, p.time_ns) for p in decoded.points} == {(T_APP, T_APP + 30 * 10**9)}
    assert decoded.rejected == 3
    assert decoded.reasons == [
        "claude_code.session.count: gauge points are not counted (only monotonic sums and "
        "histograms)",
        "claude_code.session.count: non-monotonic sums are not counted (only monotonic sums "
        "and histograms)",
        "claude_code.session.count: summary points are not counted (only monotonic sums and "
        "histograms)"]
    assert len({p.series for p in decoded.points}) == 3  # the point attributes differ


def test_log_trace_and_span_ids_are_hex_in_either_case() -> None:
    request = parse_logs_request(payload("logs.generic.json"), True)
    first, second = request.resource_logs[0].scope_logs[0].log_records
    assert first.trace_id == second.trace_id == bytes.fromhex(
        "4bf92f3577b34da6a3ce929d0e0e4736")
    assert first.span_id == bytes.fromhex("00f067aa0ba902b7")
    assert second.span_id == bytes.fromhex("a3ce929d0e0e4736")
    attrs = {kv.key: kv.value for kv in first.attributes}
    assert attrs["attempt"].int_value == 2  # "intValue": "2"
    assert attrs["retry"].bool_value is True
    assert attrs["latency_ms"].double_value == 733.5
    assert [v.string_value for v in attrs["declines"].array_value.values] == [
        "soft", "timeout"]
    assert {kv.key for kv in attrs["order"].kvlist_value.values} == {"order.id", "items"}


def test_log_as_an_api_request_digests_like_its_protobuf_twin() -> None:
    """No request_id: the event id is a digest of the record, equal for OTLP/JSON (hex ids)
    and protobuf (raw id bytes), which only holds if the hex ids were read as hex."""
    doc = json.loads(payload("logs.generic.json"))
    record = doc["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]
    record["body"] = {"stringValue": "claude_code.api_request"}
    record["attributes"] = [{"key": "input_tokens", "value": {"intValue": "42"}}]
    from_json = decode_logs(json.dumps(doc).encode(), True)
    proto = parse_logs_request(json.dumps(doc).encode(), True)
    from_proto = decode_logs(proto.SerializeToString(), False)
    assert [(p.quantity, p.token_type, p.value) for p in from_json.points] == [
        ("tokens", "input", 42.0), ("requests", None, 1.0)]
    assert from_json.points == from_proto.points
    event_id = from_json.points[0].event_id
    assert event_id is not None and len(event_id) == 32
    # ids in base64 (what json_format alone expects) are not OTLP/JSON: refused, as the
    # Collector refuses them, rather than read as other bytes
    b64 = copy.deepcopy(doc)
    b64_record = b64["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]
    b64_record["traceId"] = base64.b64encode(bytes.fromhex(record["traceId"])).decode()
    with pytest.raises(OtlpError) as err:
        decode_logs(json.dumps(b64).encode(), True)
    assert err.value.status == 400
    assert err.value.message == ("body is not OTLP/JSON: traceId must be 32 hex digits, "
                                 "got 'S/kvNXezTaajzpKdDg5HNg=='")


CLAUDE_WHO = {"user.id": "5f1c9e0a7b3d42e8a6c0f19d2b84e7a3c5d60f1e9b2a47c8d3e5f60a1b2c3d4e",
              "session.id": "0b7d3c52-94e1-4f6a-8c2d-e17a5b90f4c3",
              "organization.id": "7c1e4a92-53bd-4f07-9e2a-61d8b3f05c47",
              "user.email": "mara.okafor@nimbus-works.example",
              "user.account_uuid": "e92a5f17-0c4b-4d38-b6e1-3f7a29c8d054"}
SONNET = "claude-sonnet-4-5-20250929"


def test_claude_codes_metrics_export() -> None:
    """Every counted Claude Code metric once; the edit-decision and active-time metrics are
    not ours to count and are ignored without a complaint."""
    decoded = decode_metrics(payload("metrics.claude_code.json"), True)
    assert (decoded.rejected, decoded.reasons) == (0, [])
    assert [(p.quantity, p.token_type, p.value, p.model) for p in decoded.points] == [
        ("sessions", None, 1.0, None),
        ("tokens", "input", 1843.0, SONNET),
        ("tokens", "output", 612.0, SONNET),
        ("tokens", "cache_read", 20488.0, SONNET),
        ("tokens", "cache_creation", 3310.0, SONNET),
        ("cost", None, 0.0921, SONNET),
        ("activity:lines_added", None, 57.0, None),
        ("activity:lines_removed", None, 12.0, None)]
    for point in decoded.points:
        assert (point.tool, point.cumulative, point.event_id) == ("claude_code", False, None)
        assert (point.start_ns, point.time_ns) == (T_CLAUDE, T_CLAUDE + 60 * 10**9)
        who = {k: v for k, v in point.attributes.items() if k != "model"}
        assert who == CLAUDE_WHO
    assert len({p.series for p in decoded.points}) == len(decoded.points)
    proto = parse_metrics_request(payload("metrics.claude_code.json"), True)
    assert decode_metrics(proto.SerializeToString(), False) == decoded


def test_claude_codes_events_export() -> None:
    """Two api_request events (numbers as numbers, then as strings); the user_prompt and
    tool_result events around them are not counted."""
    decoded = decode_logs(payload("logs.claude_code.json"), True)
    assert (decoded.rejected, decoded.reasons) == (0, [])
    assert [(p.quantity, p.token_type, p.value) for p in decoded.points] == [
        ("tokens", "input", 1290.0), ("tokens", "output", 418.0),
        ("tokens", "cache_read", 15402.0), ("tokens", "cache_creation", 2118.0),
        ("cost", None, 0.048213), ("requests", None, 1.0),
        ("tokens", "input", 553.0), ("tokens", "output", 194.0),
        ("tokens", "cache_read", 5086.0), ("tokens", "cache_creation", 0.0),
        ("cost", None, 0.00231), ("requests", None, 1.0)]
    first, second = decoded.points[:6], decoded.points[6:]
    assert {(p.model, p.time_ns) for p in first} == {(SONNET, T_CLAUDE + 63 * 10**9)}
    assert {(p.model, p.time_ns) for p in second} == {
        ("claude-haiku-4-5-20251001", T_CLAUDE + 100 * 10**9)}
    # no request_id: each event's id is a digest of its record, one per event
    assert len({p.event_id for p in first}) == len({p.event_id for p in second}) == 1
    assert first[0].event_id != second[0].event_id
    assert all(p.attributes["user.email"] == "mara.okafor@nimbus-works.example"
               for p in decoded.points)


# ---------------------------------------------------------------------------------------
# the OpenTelemetry project's example payloads (opentelemetry-proto, Apache-2.0), in
# ../shared/fixtures/otlp


def example(name: str) -> bytes:
    return (reference_dir("otlp") / name).read_bytes()


@pytest.mark.reference
@pytest.mark.parametrize("name", ["metrics", "logs"])
def test_reference_our_generic_payloads_have_the_examples_shape(name: str) -> None:
    """Every key of the OpenTelemetry example, at every level, is in our generic payload
    with the same JSON type: it exercises what the example exercises."""
    assert shape_differences(json.loads(example(f"{name}.json")),
                             json.loads(payload(f"{name}.generic.json"))) == []


@pytest.mark.reference
def test_reference_example_payloads_decode_and_their_metrics_are_ignored() -> None:
    assert decode_metrics(example("metrics.json"), True) == Decoded([], 0, [])
    assert decode_logs(example("logs.json"), True) == Decoded([], 0, [])


@pytest.mark.reference
def test_reference_example_metric_shapes_counted_under_a_known_name() -> None:
    """The example's sum, gauge, histogram and exponential histogram, renamed to a metric
    we count: three points (sum, histogram sum, exponential histogram sum), gauge refused."""
    doc = json.loads(example("metrics.json"))
    for metric in doc["resourceMetrics"][0]["scopeMetrics"][0]["metrics"]:
        metric["name"] = "claude_code.session.count"
    decoded = decode_metrics(json.dumps(doc).encode(), True)
    assert [(p.quantity, p.value, p.cumulative) for p in decoded.points] == [
        ("sessions", 5.0, False), ("sessions", 2.0, False), ("sessions", 10.0, False)]
    assert {p.time_ns for p in decoded.points} == {1544712660300000000}
    assert {p.start_ns for p in decoded.points} == {1544712660300000000}
    assert decoded.rejected == 1
    assert decoded.reasons == ["claude_code.session.count: gauge points are not counted "
                               "(only monotonic sums and histograms)"]
    assert len({p.series for p in decoded.points}) == 3  # the point attributes differ


@pytest.mark.reference
def test_reference_example_logs_hex_trace_and_span_ids() -> None:
    request = parse_logs_request(example("logs.json"), True)
    record = request.resource_logs[0].scope_logs[0].log_records[0]
    assert record.trace_id == bytes.fromhex("5B8EFFF798038103D269B633813FC60C")
    assert record.span_id == bytes.fromhex("EEE19B7EC3C1B174")
    assert record.attributes[2].value.int_value == 10  # "intValue": "10"


@pytest.mark.reference
def test_reference_example_log_as_an_api_request_digests_like_its_protobuf_twin() -> None:
    doc = json.loads(example("logs.json"))
    record = doc["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]
    record["body"] = {"stringValue": "claude_code.api_request"}
    record["attributes"] = [{"key": "input_tokens", "value": {"intValue": "42"}}]
    from_json = decode_logs(json.dumps(doc).encode(), True)
    from_proto = decode_logs(parse_logs_request(json.dumps(doc).encode(), True)
                             .SerializeToString(), False)
    assert [(p.quantity, p.token_type, p.value) for p in from_json.points] == [
        ("tokens", "input", 42.0), ("requests", None, 1.0)]
    assert from_json.points == from_proto.points
    b64 = copy.deepcopy(doc)
    b64_record = b64["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]
    b64_record["traceId"] = base64.b64encode(bytes.fromhex(record["traceId"])).decode()
    with pytest.raises(OtlpError) as err:
        decode_logs(json.dumps(b64).encode(), True)
    assert err.value.message == ("body is not OTLP/JSON: traceId must be 32 hex digits, "
                                 "got 'W47/95gDgQPSabYzgT/GDA=='")


# ---------------------------------------------------------------------------------------
# each counted metric, both temporalities

CASES = [
    # metric, point attributes, value, quantity, token_type, tool
    ("claude_code.token.usage", {"type": "input", "model": "claude-sonnet-4-6"}, 1200,
     "tokens", "input", "claude_code"),
    ("claude_code.token.usage", {"type": "output", "model": "claude-sonnet-4-6"}, 340.0,
     "tokens", "output", "claude_code"),
    ("claude_code.token.usage", {"type": "cacheRead", "model": "claude-sonnet-4-6"}, 5000.0,
     "tokens", "cache_read", "claude_code"),
    ("claude_code.token.usage", {"type": "cacheCreation", "model": "claude-sonnet-4-6"}, 70.0,
     "tokens", "cache_creation", "claude_code"),
    ("claude_code.cost.usage", {"model": "claude-sonnet-4-6"}, 0.0375, "cost", None,
     "claude_code"),
    ("claude_code.session.count", {"start_type": "fresh"}, 1.0, "sessions", None,
     "claude_code"),
    ("claude_code.commit.count", {}, 2.0, "activity:commits", None, "claude_code"),
    ("claude_code.pull_request.count", {}, 1, "activity:pull_requests", None, "claude_code"),
    ("claude_code.lines_of_code.count", {"type": "added", "model": "m"}, 120.0,
     "activity:lines_added", None, "claude_code"),
    ("claude_code.lines_of_code.count", {"type": "removed", "model": "m"}, 30.0,
     "activity:lines_removed", None, "claude_code"),
    ("gemini_cli.token.usage", {"type": "input", "model": "gemini-2.5-pro"}, 900, "tokens",
     "input", "gemini_cli"),
    ("gemini_cli.token.usage", {"type": "output", "model": "gemini-2.5-pro"}, 80, "tokens",
     "output", "gemini_cli"),
    ("gemini_cli.token.usage", {"type": "thought", "model": "gemini-2.5-pro"}, 60, "tokens",
     "thought", "gemini_cli"),
    ("gemini_cli.token.usage", {"type": "cache", "model": "gemini-2.5-pro"}, 400, "tokens",
     "cache", "gemini_cli"),
    ("gemini_cli.token.usage", {"type": "tool", "model": "gemini-2.5-pro"}, 7, "tokens",
     "tool", "gemini_cli"),
    ("gemini_cli.api.request.count", {"model": "gemini-2.5-pro", "status_code": 200}, 3,
     "requests", None, "gemini_cli"),
]


@pytest.mark.parametrize("temporality", [DELTA, CUMULATIVE])
@pytest.mark.parametrize(("name", "attrs", "value", "quantity", "token_type", "tool"), CASES)
def test_each_counted_metric(name: str, attrs: dict[str, Any], value: float, quantity: str,
                             token_type: str | None, tool: str, temporality: int) -> None:
    attrs = {**CLAUDE_ID, **attrs}
    body = metrics_request([sum_metric(name, [number_point(value, attrs)], temporality)],
                           resource={"service.name": "whatever", "host.arch": "arm64"})
    decoded = decode_metrics(body, False)
    assert decoded.rejected == 0 and decoded.reasons == []
    [point] = decoded.points
    assert point.tool == tool
    assert (point.quantity, point.token_type) == (quantity, token_type)
    assert point.value == float(value) and isinstance(point.value, float)
    assert point.cumulative is (temporality == CUMULATIVE)
    assert (point.start_ns, point.time_ns) == (T0, T1)
    assert point.model == attrs.get("model")
    expected = {k: v for k, v in attrs.items() if k in CLAUDE_ID or k == "model"}
    assert point.attributes == expected
    assert point.event_id is None
    assert len(point.series) == 32 and int(point.series, 16) >= 0


def test_one_request_many_metrics_and_unrelated_ones_ignored() -> None:
    body = metrics_request([
        sum_metric("claude_code.token.usage", [
            number_point(100.0, {**CLAUDE_ID, "type": "input", "model": "a"}),
            number_point(20.0, {**CLAUDE_ID, "type": "output", "model": "a"})]),
        sum_metric("claude_code.active_time.total", [number_point(3.5, CLAUDE_ID)]),
        metrics_pb2.Metric(name="process.cpu.usage", gauge=metrics_pb2.Gauge(
            data_points=[number_point(0.3, {})])),
        sum_metric("http.server.active_requests", [number_point(2, {})], monotonic=False),
        sum_metric("claude_code.cost.usage", [number_point(0.01, {**CLAUDE_ID, "model": "a"})]),
    ])
    decoded = decode_metrics(body, False)
    assert [(p.quantity, p.token_type, p.value) for p in decoded.points] == [
        ("tokens", "input", 100.0), ("tokens", "output", 20.0), ("cost", None, 0.01)]
    assert (decoded.rejected, decoded.reasons) == (0, [])


# ---------------------------------------------------------------------------------------
# gen_ai.client.token.usage


def test_genai_histogram_sums_by_token_type_tool_from_service_name() -> None:
    metric = histogram_metric("gen_ai.client.token.usage", [
        (1530.0, {"gen_ai.token.type": "input", "gen_ai.request.model": "gpt-4o",
                  "gen_ai.response.model": "gpt-4o-2024-08-06", "gen_ai.operation.name": "chat"}),
        (212.0, {"gen_ai.token.type": "output", "gen_ai.request.model": "gpt-4o"}),
    ], CUMULATIVE)
    body = metrics_request([metric], resource={"service.name": "support-bot",
                                               "enduser.id": "ana@example.com"}, scope="openai")
    decoded = decode_metrics(body, False)
    points = by_key(decoded.points)
    assert points["tokens", "input"].value == 1530.0
    assert points["tokens", "input"].model == "gpt-4o-2024-08-06"  # response over request
    assert points["tokens", "output"].value == 212.0
    assert points["tokens", "output"].model == "gpt-4o"
    assert {p.tool for p in decoded.points} == {"support-bot"}
    assert {p.cumulative for p in decoded.points} == {True}
    assert points["tokens", "input"].attributes == {"enduser.id": "ana@example.com"}


@pytest.mark.parametrize("resource", [{}, {"service.name": ""},
                                      {"service.name": "unknown_service:python"}])
def test_genai_without_a_service_name_is_tool_genai(resource: dict[str, Any]) -> None:
    body = metrics_request([histogram_metric("gen_ai.client.token.usage",
                                             [(5.0, {"gen_ai.token.type": "input"})])], resource)
    [point] = decode_metrics(body, False).points
    assert (point.tool, point.value, point.model) == ("genai", 5.0, None)


def test_genai_as_an_exponential_histogram_or_a_counter() -> None:
    exp = metrics_pb2.Metric(name="gen_ai.client.token.usage",
                             exponential_histogram=metrics_pb2.ExponentialHistogram(
                                 aggregation_temporality=DELTA, data_points=[
                                     metrics_pb2.ExponentialHistogramDataPoint(
                                         attributes=kvs({"gen_ai.token.type": "output"}),
                                         time_unix_nano=T1, count=2, sum=77.0)]))
    counter = sum_metric("gen_ai.client.token.usage",
                         [number_point(8, {"gen_ai.token.type": "input"})])
    decoded = decode_metrics(metrics_request([exp, counter], {"service.name": "x"}), False)
    assert [(p.token_type, p.value) for p in decoded.points] == [("output", 77.0),
                                                                  ("input", 8.0)]


def test_genai_copies_from_tools_with_their_own_token_metric_are_not_counted_twice() -> None:
    genai = histogram_metric("gen_ai.client.token.usage",
                             [(900.0, {"gen_ai.token.type": "input"})])
    own = sum_metric("gemini_cli.token.usage", [number_point(900, {"type": "input"})])
    by_service = decode_metrics(metrics_request([genai], {"service.name": "gemini-cli"}), False)
    assert by_service == Decoded([], 0, [])
    both = decode_metrics(metrics_request([own, genai], {"service.name": "my-fork"}), False)
    assert [(p.tool, p.value) for p in both.points] == [("gemini_cli", 900.0)]


def test_histogram_point_without_sum() -> None:
    metric = metrics_pb2.Metric(name="gen_ai.client.token.usage", histogram=metrics_pb2.Histogram(
        aggregation_temporality=DELTA, data_points=[
            metrics_pb2.HistogramDataPoint(attributes=kvs({"gen_ai.token.type": "input"}),
                                           time_unix_nano=T1, count=4),
            metrics_pb2.HistogramDataPoint(attributes=kvs({"gen_ai.token.type": "output"}),
                                           time_unix_nano=T1, count=0)]))
    decoded = decode_metrics(metrics_request([metric], {"service.name": "s"}), False)
    assert [(p.token_type, p.value) for p in decoded.points] == [("output", 0.0)]
    assert decoded.rejected == 1
    assert decoded.reasons == ["gen_ai.client.token.usage: histogram point has no sum"]


# ---------------------------------------------------------------------------------------
# refused with a reason


def test_gauge_non_monotonic_and_unspecified_temporality_are_refused_per_point() -> None:
    two = [number_point(1.0, {"type": "input"}), number_point(2.0, {"type": "output"})]
    body = metrics_request([
        metrics_pb2.Metric(name="claude_code.token.usage",
                           gauge=metrics_pb2.Gauge(data_points=two)),
        sum_metric("claude_code.cost.usage", two + two[:1], monotonic=False),
        sum_metric("claude_code.session.count", two, temporality=0),
        sum_metric("claude_code.commit.count", two, temporality=7),
        metrics_pb2.Metric(name="claude_code.pull_request.count",
                           summary=metrics_pb2.Summary(data_points=[
                               metrics_pb2.SummaryDataPoint(time_unix_nano=T1, count=1, sum=1)])),
    ])
    decoded = decode_metrics(body, False)
    assert decoded.points == []
    assert decoded.rejected == 2 + 3 + 2 + 2 + 1
    assert decoded.reasons == [
        "claude_code.token.usage: gauge points are not counted (only monotonic sums and "
        "histograms)",
        "claude_code.cost.usage: non-monotonic sums are not counted (only monotonic sums and "
        "histograms)",
        "claude_code.session.count: aggregation temporality 0 is neither delta (1) nor "
        "cumulative (2)",
        "claude_code.commit.count: aggregation temporality 7 is neither delta (1) nor "
        "cumulative (2)",
        "claude_code.pull_request.count: summary points are not counted (only monotonic sums "
        "and histograms)",
    ]


def test_bad_values_and_types_are_refused_and_the_rest_counted() -> None:
    body = metrics_request([
        sum_metric("claude_code.cost.usage", [
            number_point(math.nan, {}), number_point(-0.5, {}), number_point(math.inf, {}),
            number_point(0.25, {}), number_point(-0.0, {}), number_point(0.0, {}, time_ns=0),
            metrics_pb2.NumberDataPoint(time_unix_nano=T1)]),
        sum_metric("claude_code.token.usage", [
            number_point(10, {"type": "reasoning"}), number_point(10, {}),
            number_point(10, {"type": "input"})]),
        sum_metric("claude_code.lines_of_code.count", [number_point(4, {"type": "moved"})]),
    ])
    decoded = decode_metrics(body, False)
    assert [(p.quantity, p.token_type, p.value) for p in decoded.points] == [
        ("cost", None, 0.25), ("cost", None, 0.0), ("tokens", "input", 10.0)]
    assert math.copysign(1.0, decoded.points[1].value) == 1.0  # -0.0 normalised
    assert decoded.rejected == 8
    assert decoded.reasons == [
        "claude_code.cost.usage: NaN values are not counted",
        "claude_code.cost.usage: negative values are not counted (-0.5)",
        "claude_code.cost.usage: infinite values are not counted",
        "claude_code.cost.usage: data point has no timeUnixNano",
        "claude_code.cost.usage: data point has no value",
        "claude_code.token.usage: unknown type 'reasoning' (known: input, output, cacheRead, "
        "cacheCreation)",
        "claude_code.token.usage: data point has no 'type' attribute",
        "claude_code.lines_of_code.count: unknown type 'moved' (known: added, removed)",
    ]
    assert decoded.message().startswith("claude_code.cost.usage: NaN values are not counted; ")


def test_no_recorded_value_points_are_skipped_silently() -> None:
    stale = number_point(5.0, {})
    stale.flags = metrics_pb2.DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK
    decoded = decode_metrics(metrics_request(
        [sum_metric("claude_code.cost.usage", [stale, number_point(1.5, {})])]), False)
    assert [p.value for p in decoded.points] == [1.5] and decoded.rejected == 0


def test_reasons_are_distinct_and_capped() -> None:
    points = [number_point(float(-i - 1), {}) for i in range(30)]
    decoded = decode_metrics(metrics_request([sum_metric("claude_code.cost.usage", points)]),
                             False)
    assert decoded.rejected == 30
    assert len(decoded.reasons) == 20
    nan = decode_metrics(metrics_request([sum_metric("claude_code.cost.usage",
                                                     [number_point(math.nan, {})] * 5)]), False)
    assert (nan.rejected, nan.reasons) == (5, ["claude_code.cost.usage: NaN values are not "
                                               "counted"])


# ---------------------------------------------------------------------------------------
# identity attributes and series


def test_identity_merge_resource_then_scope_then_point() -> None:
    request = metrics_service_pb2.ExportMetricsServiceRequest(resource_metrics=[
        metrics_pb2.ResourceMetrics(
            resource=resource_pb2.Resource(attributes=kvs({
                "user.email": "from-resource@example.com", "enduser.id": "ana",
                "organization.id": "org-res", "service.name": "claude-code", "team": "x"})),
            scope_metrics=[metrics_pb2.ScopeMetrics(
                scope=common_pb2.InstrumentationScope(
                    name="s", attributes=kvs({"organization.id": "org-scope"})),
                metrics=[sum_metric("claude_code.cost.usage", [number_point(1.0, {
                    "user.email": "from-point@example.com", "session.id": "s1",
                    "terminal.type": "vscode", "user.account_id": "user_01"})])])])])
    [point] = decode_metrics(request.SerializeToString(), False).points
    assert point.attributes == {"user.email": "from-point@example.com", "enduser.id": "ana",
                                "organization.id": "org-scope", "session.id": "s1",
                                "user.account_id": "user_01"}


def test_series_is_stable_across_values_and_times_but_not_attributes() -> None:
    def series(value: float, attrs: dict[str, Any], start: int = T0, time_ns: int = T1,
               resource: dict[str, Any] | None = None, scope: str = "sc",
               name: str = "claude_code.cost.usage") -> str:
        body = metrics_request([sum_metric(name, [number_point(value, attrs, start, time_ns)])],
                               resource or {"service.name": "claude-code"}, scope)
        return decode_metrics(body, False).points[0].series

    base = series(1.0, {"a": "1", "b": "2"})
    assert series(9.0, {"b": "2", "a": "1"}, start=T1, time_ns=T1 + 1) == base
    assert series(1.0, {"a": "1", "b": "3"}) != base
    assert series(1.0, {"a": 1, "b": "2"}) != base  # int 1 is not string "1"
    assert series(1.0, {"a": "1", "b": "2"}, resource={"service.name": "other"}) != base
    assert series(1.0, {"a": "1", "b": "2"}, scope="other") != base
    assert series(1.0, {"a": "1", "b": "2"}, name="claude_code.commit.count") != base


# ---------------------------------------------------------------------------------------
# OTLP/JSON


def test_json_int64_as_strings_or_numbers_and_enums_as_integers() -> None:
    doc = {
        "resourceMetrics": [{
            "resource": {"attributes": [
                {"key": "service.name", "value": {"stringValue": "claude-code"}},
                {"key": "user.email", "value": {"stringValue": "ana@example.com"}}]},
            "schemaUrl": "https://opentelemetry.io/schemas/1.99.0",
            "someFutureField": {"nested": [1, 2]},
            "scopeMetrics": [{
                "scope": {"name": "com.anthropic.claude_code", "version": "2.1.221"},
                "metrics": [{
                    "name": "claude_code.token.usage", "unit": "tokens",
                    "sum": {"aggregationTemporality": 1, "isMonotonic": True, "dataPoints": [
                        {"attributes": [{"key": "type", "value": {"stringValue": "input"}},
                                        {"key": "model", "value": {"stringValue": "opus"}}],
                         "startTimeUnixNano": str(T0), "timeUnixNano": str(T1),
                         "asInt": "9007199254740993"},
                        {"attributes": [{"key": "type", "value": {"stringValue": "output"}},
                                        {"key": "model", "value": {"stringValue": "opus"}}],
                         "startTimeUnixNano": T0, "timeUnixNano": T1, "asInt": 12,
                         "exemplars": [{"timeUnixNano": str(T1), "asInt": "3",
                                        "traceId": "5b8efff798038103d269b633813fc60c",
                                        "spanId": "eee19b7ec3c1b174"}]},
                        {"attributes": [{"key": "type", "value": {"stringValue": "cacheRead"}},
                                        {"key": "model", "value": {"stringValue": "opus"}}],
                         "start_time_unix_nano": str(T0), "time_unix_nano": str(T1),
                         "as_double": 0.5, "unknownPointField": True}]}},
                    {"name": "claude_code.cost.usage",
                     "sum": {"aggregationTemporality": "AGGREGATION_TEMPORALITY_CUMULATIVE",
                             "isMonotonic": True, "dataPoints": [
                                 {"timeUnixNano": str(T1), "asDouble": 1.25}]}}]}]}]}
    decoded = decode_metrics(json.dumps(doc).encode(), True)
    assert decoded.rejected == 0
    assert [(p.token_type, p.value, p.cumulative, p.start_ns, p.time_ns)
            for p in decoded.points] == [
        ("input", 9007199254740992.0, False, T0, T1),  # float64 of 2**53 + 1
        ("output", 12.0, False, T0, T1),
        ("cache_read", 0.5, False, T0, T1),
        (None, 1.25, True, 0, T1)]
    assert decoded.points[0].attributes == {"user.email": "ana@example.com", "model": "opus"}


def test_json_and_protobuf_of_one_request_decode_alike() -> None:
    body = metrics_request([sum_metric("claude_code.token.usage", [
        number_point(7.0, {**CLAUDE_ID, "type": "input", "model": "m", "flag": True,
                           "ratio": 0.5, "n": 3})], CUMULATIVE)],
        {"service.name": "claude-code", "user.email": "x@example.com"})
    request = metrics_service_pb2.ExportMetricsServiceRequest.FromString(body)
    as_json = json_format.MessageToJson(request).encode()
    assert decode_metrics(as_json, True) == decode_metrics(body, False)


def test_json_logs_with_hex_ids_and_string_numbers() -> None:
    doc = {"resourceLogs": [{
        "resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": "claude-code"}}]},
        "scopeLogs": [{"scope": {"name": "com.anthropic.claude_code.events"}, "logRecords": [{
            "timeUnixNano": str(T1), "observedTimeUnixNano": str(T1 + 9),
            "traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7ad6b7169203331",
            "body": {"stringValue": "claude_code.api_request"},
            "attributes": [
                {"key": "event.name", "value": {"stringValue": "api_request"}},
                {"key": "event.sequence", "value": {"intValue": 3}},
                {"key": "user.email", "value": {"stringValue": "ana@example.com"}},
                {"key": "model", "value": {"stringValue": "claude-opus-4-7"}},
                {"key": "input_tokens", "value": {"stringValue": "1"}},
                {"key": "output_tokens", "value": {"intValue": "2"}},
                {"key": "cache_read_tokens", "value": {"intValue": 3}},
                {"key": "cache_creation_tokens", "value": {"doubleValue": 4}},
                {"key": "cost_usd", "value": {"stringValue": "0.01"}},
                {"key": "request_id", "value": {"stringValue": "req_011CXYZ"}}]}]}]}]}
    request = parse_logs_request(json.dumps(doc).encode(), True)
    record = request.resource_logs[0].scope_logs[0].log_records[0]
    assert record.trace_id.hex() == "0af7651916cd43dd8448eb211c80319c"
    assert record.span_id.hex() == "b7ad6b7169203331"
    decoded = decode_logs(json.dumps(doc).encode(), True)
    points = by_key(decoded.points)
    assert {k: p.value for k, p in points.items()} == {
        ("tokens", "input"): 1.0, ("tokens", "output"): 2.0, ("tokens", "cache_read"): 3.0,
        ("tokens", "cache_creation"): 4.0, ("cost", None): 0.01, ("requests", None): 1.0}
    assert {p.event_id for p in decoded.points} == {"req_011CXYZ"}
    assert {p.time_ns for p in decoded.points} == {T1}
    assert {p.model for p in decoded.points} == {"claude-opus-4-7"}
    assert {p.cumulative for p in decoded.points} == {False}
    assert decoded.points[0].attributes == {"user.email": "ana@example.com",
                                            "model": "claude-opus-4-7"}


@pytest.mark.parametrize(("body", "is_json", "fragment"), [
    (b"\xff\xff\xff\xff", False, "not OTLP protobuf"),
    (b"\x0a\x05\x0a\x03", False, "not OTLP protobuf"),  # truncated length-delimited field
    (b"{not json", True, "not OTLP/JSON"),
    (b"[1, 2]", True, "top level must be an object"),
    (b'"resourceMetrics"', True, "top level must be an object"),
    (b"\xff\xfe{}", True, "not OTLP/JSON"),
    (json.dumps({"resourceMetrics": {"not": "a list"}}).encode(), True, "not OTLP/JSON"),
    (json.dumps({"resourceMetrics": [{"scopeMetrics": [{"metrics": [
        {"name": "x", "sum": {"dataPoints": [{"asInt": "twelve"}]}}]}]}]}).encode(), True,
     "not OTLP/JSON"),
    (json.dumps({"resourceMetrics": [{"scopeMetrics": [{"metrics": [{"name": "x", "sum": {
        "dataPoints": [{"exemplars": [{"traceId": "not hex, not base64!"}]}]}}]}]}]}).encode(),
     True, "not OTLP/JSON"),
    (b"[" * 100_000, True, "not OTLP/JSON"),
])
def test_undecodable_bodies_are_400(body: bytes, is_json: bool, fragment: str) -> None:
    with pytest.raises(OtlpError) as err:
        decode_metrics(body, is_json)
    assert err.value.status == 400
    assert fragment in err.value.message
    assert len(err.value.message) < 300


def test_an_empty_protobuf_request_is_valid_and_empty() -> None:
    assert decode_metrics(b"", False) == Decoded([], 0, [])
    assert decode_logs(b"", False) == Decoded([], 0, [])
    assert decode_metrics(b"{}", True) == Decoded([], 0, [])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300), st.booleans())
def test_any_bytes_decode_or_raise_otlp_error(raw: bytes, logs: bool) -> None:
    for is_json in (False, True):
        try:
            (decode_logs if logs else decode_metrics)(raw, is_json)
        except OtlpError as exc:
            assert exc.status == 400


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["resourceMetrics", "scopeMetrics", "metrics", "sum", "gauge",
                         "dataPoints", "asInt", "asDouble", "name", "exemplars", "traceId",
                         "resourceLogs", "scopeLogs", "logRecords", "body", "attributes",
                         "key", "value", "stringValue", "intValue", "isMonotonic",
                         "aggregationTemporality", "spanId", "x"]), inner, max_size=4),
    max_leaves=25)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSONISH)
def test_any_json_document_decodes_or_raises_otlp_error(doc: Any) -> None:
    raw = json.dumps(doc).encode()
    for decode in (decode_metrics, decode_logs):
        try:
            decoded = decode(raw, True)
        except OtlpError as exc:
            assert exc.status == 400
        else:
            assert all(p.value >= 0 and math.isfinite(p.value) for p in decoded.points)


# ---------------------------------------------------------------------------------------
# logs: claude_code.api_request


def test_api_request_events_by_body_event_name_or_event_name_field() -> None:
    usage = {"input_tokens": 10, "output_tokens": 5, "cost_usd": 0.5}
    named = log_record({"event.name": "api_request", **usage}, body=None)
    qualified = log_record({"event.name": "claude_code.api_request", **usage}, body=None)
    field_named = log_record(usage, body=None)
    field_named.event_name = "claude_code.api_request"
    by_body = log_record(usage)
    other_tool = log_record({"event.name": "gemini_cli.api_request", **usage}, body=None)
    prompt = log_record({"event.name": "user_prompt", **usage}, body="claude_code.user_prompt")
    decoded = decode_logs(logs_request([named, qualified, field_named, by_body, other_tool,
                                        prompt]), False)
    assert len(decoded.points) == 4 * 4  # input, output, cost, requests per event
    assert decoded.rejected == 0
    # a bare "api_request" counts only when the record comes from Claude Code
    bare = log_record({"event.name": "api_request", **usage}, body=None)
    assert decode_logs(logs_request([bare], scope="some.app"), False).points == []
    assert len(decode_logs(logs_request([bare], {"service.name": "claude-code"}, "some.app"),
                           False).points) == 4


def test_api_request_points_exact() -> None:
    record = log_record({**CLAUDE_ID, "event.name": "api_request", "model": "claude-sonnet-4-6",
                         "input_tokens": 1200, "output_tokens": 340, "cache_read_tokens": 5000,
                         "cache_creation_tokens": 0, "cost_usd": 0.0375, "duration_ms": 2100,
                         "request_id": "req_abc", "prompt.id": "p1"})
    decoded = decode_logs(logs_request([record], {"service.name": "claude-code",
                                                  "enduser.id": "ana"}), False)
    points = by_key(decoded.points)
    assert {k: p.value for k, p in points.items()} == {
        ("tokens", "input"): 1200.0, ("tokens", "output"): 340.0,
        ("tokens", "cache_read"): 5000.0, ("tokens", "cache_creation"): 0.0,
        ("cost", None): 0.0375, ("requests", None): 1.0}
    for point in decoded.points:
        assert point.tool == "claude_code"
        assert point.event_id == "req_abc"
        assert (point.start_ns, point.time_ns, point.cumulative) == (T1, T1, False)
        assert point.model == "claude-sonnet-4-6"
        assert point.attributes == {**CLAUDE_ID, "enduser.id": "ana",
                                    "model": "claude-sonnet-4-6"}
    assert len({p.series for p in decoded.points}) == 6


def test_api_request_time_falls_back_to_observed_time() -> None:
    record = log_record({"input_tokens": 1}, time_ns=0, observed_ns=T1 + 7)
    assert {p.time_ns for p in decode_logs(logs_request([record]), False).points} == {T1 + 7}


def test_api_request_without_request_id_gets_a_record_digest() -> None:
    one = log_record({"input_tokens": 1, "session.id": "s"})
    same = log_record({"input_tokens": 1, "session.id": "s"})
    later = log_record({"input_tokens": 1, "session.id": "s"}, time_ns=T1 + 1)
    ids = [decode_logs(logs_request([r]), False).points[0].event_id for r in (one, same, later)]
    assert ids[0] == ids[1] != ids[2]
    assert all(i is not None and len(i) == 32 for i in ids)
    elsewhere = decode_logs(logs_request([one], {"user.email": "b@example.com"}), False)
    assert elsewhere.points[0].event_id != ids[0]  # another resource, another event


def test_api_request_cost_usd_micros_when_cost_usd_is_absent() -> None:
    record = log_record({"output_tokens": 2, "cost_usd_micros": 37_500})
    points = by_key(decode_logs(logs_request([record]), False).points)
    assert points["cost", None].value == 0.0375


@pytest.mark.parametrize(("attrs", "reason"), [
    ({"input_tokens": -1}, "input_tokens: negative values are not counted (-1)"),
    ({"input_tokens": "lots"}, "input_tokens is not a number ('lots')"),
    ({"input_tokens": "nan"}, "input_tokens is not a number ('nan')"),
    ({"output_tokens": math.nan}, "output_tokens: NaN values are not counted"),
    ({"cost_usd": True}, "cost_usd is not a number ('true')"),
    ({"output_tokens": None}, "event has no token counts or cost"),
])
def test_api_request_with_bad_numbers_is_refused_whole(attrs: dict[str, Any],
                                                       reason: str) -> None:
    good = log_record({"input_tokens": 3, "request_id": "req_good"})
    attrs = {k: v for k, v in {"output_tokens": 9, "model": "m", **attrs}.items()
             if v is not None}
    decoded = decode_logs(logs_request([log_record(attrs), good]), False)
    assert {p.event_id for p in decoded.points} == {"req_good"}
    assert decoded.rejected == 1
    assert decoded.reasons == [f"claude_code.api_request: {reason}"]


def test_api_request_without_any_time_is_refused() -> None:
    decoded = decode_logs(logs_request([log_record({"input_tokens": 1}, time_ns=0,
                                                   observed_ns=0)]), False)
    assert (decoded.points, decoded.rejected) == ([], 1)
    assert decoded.reasons == ["claude_code.api_request: event has neither timeUnixNano nor "
                               "observedTimeUnixNano"]


# ---------------------------------------------------------------------------------------
# responses


def test_metrics_response_partial_success_only_when_needed() -> None:
    assert metrics_response(0, "", False) == b""
    assert metrics_response(0, "", True) == b"{}"
    body = metrics_response(3, "claude_code.token.usage: gauge points are not counted", False)
    response = metrics_service_pb2.ExportMetricsServiceResponse.FromString(body)
    assert response.partial_success.rejected_data_points == 3
    assert response.partial_success.error_message.startswith("claude_code.token.usage")
    assert json.loads(metrics_response(3, "why", True)) == {
        "partialSuccess": {"rejectedDataPoints": "3", "errorMessage": "why"}}
    assert json.loads(metrics_response(0, "a warning", True)) == {
        "partialSuccess": {"errorMessage": "a warning"}}


def test_logs_response() -> None:
    assert logs_response(0, "", False) == b""
    response = logs_service_pb2.ExportLogsServiceResponse.FromString(logs_response(2, "x", False))
    assert (response.partial_success.rejected_log_records,
            response.partial_success.error_message) == (2, "x")
    assert json.loads(logs_response(2, "x", True)) == {
        "partialSuccess": {"rejectedLogRecords": "2", "errorMessage": "x"}}


def test_status_body() -> None:
    try:
        unpack_body(b"", "text/plain", "", 10)
    except OtlpError as exc:
        error = exc
    assert (error.status, error.rpc_code) == (415, 3)
    assert OtlpError(413, "too big").rpc_code == 8
    status = status_pb2.Status.FromString(status_body(error.rpc_code, error.message, False))
    assert (status.code, status.message) == (3, error.message)
    assert json.loads(status_body(3, "body is not OTLP/JSON", True)) == {
        "code": 3, "message": "body is not OTLP/JSON"}


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


def test_a_digest_written_from_its_head_is_the_same_digest() -> None:
    from bot.sources.otlp.attributes import digest, digest_head, digest_more, digest_with_text

    res = [["service.name", ["s", "claude-code"]], ["x", ["d", "1.5"]]]
    point = [["model", ["s", "opus é"]], ["type", ["s", "input"]], ["bad", ["s", "\ud800"]]]
    text = json.dumps(point, separators=(",", ":"), ensure_ascii=False)
    head = digest_more(digest_head("metric", res, "scope"), "claude_code.token.usage")
    assert digest_with_text(head, text) == digest("metric", res, "scope",
                                                  "claude_code.token.usage", point)
    assert digest_with_text(digest_head(), "1") == digest(1)


_SCALARS = st.one_of(
    st.builds(lambda v: common_pb2.AnyValue(string_value=v), st.text()),
    st.builds(lambda v: common_pb2.AnyValue(bool_value=v), st.booleans()),
    st.builds(lambda v: common_pb2.AnyValue(int_value=v), st.integers(-2**63, 2**63 - 1)),
    st.builds(lambda v: common_pb2.AnyValue(double_value=v), st.floats()),
    st.builds(lambda v: common_pb2.AnyValue(bytes_value=v), st.binary(max_size=8)),
    st.just(common_pb2.AnyValue()))
_VALUES = st.one_of(_SCALARS, st.builds(
    lambda vs: common_pb2.AnyValue(array_value=common_pb2.ArrayValue(values=vs)),
    st.lists(_SCALARS, max_size=3)), st.builds(
    lambda kvs: common_pb2.AnyValue(kvlist_value=common_pb2.KeyValueList(values=[
        common_pb2.KeyValue(key=k, value=v) for k, v in kvs])),
    st.lists(st.tuples(st.text(max_size=5), _SCALARS), max_size=3)))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=12), _VALUES), max_size=8))
def test_a_points_attributes_are_read_as_the_canonical_json_a_digest_takes(pairs) -> None:
    from bot.sources.otlp.attributes import as_text, by_key, canonical, read_point

    kvs = [common_pb2.KeyValue(key=k, value=v) for k, v in pairs]
    text, texts = read_point(kvs)
    # the digests of every stored series depend on this text: it must be json.dumps's
    assert text == json.dumps(canonical(by_key(kvs)), separators=(",", ":"),
                              ensure_ascii=False)
    assert texts == {k: as_text(v) for k, v in by_key(kvs).items()}
