"""bot/sources/otlp: OTLP/JSON as the specification writes it (int64 as strings or
numbers, enums as integers, hex ids), decoded as its protobuf twin; undecodable bodies are
400 and any bytes or JSON document decode or raise OtlpError. Pure: no Redis.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from google.protobuf import json_format
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2

from bot.sources.otlp import (
    Decoded,
    OtlpError,
    decode_logs,
    decode_metrics,
    parse_logs_request,
)
from tests.support.otlp_requests import (
    CLAUDE_ID,
    CUMULATIVE,
    T0,
    T1,
    by_key,
    metrics_request,
    number_point,
    sum_metric,
)

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
