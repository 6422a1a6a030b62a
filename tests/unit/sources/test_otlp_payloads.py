"""bot/sources/otlp: whole exports decoded, from the suite's own OTLP/JSON payloads
(tests/payloads/otlp: another service's, with every metric and value type, and Claude
Code's). Pure: no Redis.

Tests marked `reference` run the OpenTelemetry project's own examples from
../shared/fixtures/otlp (tests/reference.py: skipped without them, a failure in CI).
"""

from __future__ import annotations

import base64
import copy
import json

import pytest

from bot.sources.otlp import (
    Decoded,
    OtlpError,
    decode_logs,
    decode_metrics,
    parse_logs_request,
    parse_metrics_request,
)
from tests.reference import reference_dir, shape_differences
from tests.support.otlp_requests import (
    payload,
)

# ---------------------------------------------------------------------------------------
# the suite's own OTLP/JSON payloads (tests/payloads/otlp): another service's export, with
# every metric type and attribute value type, and Claude Code's own export

T_CLAUDE = 1_741_710_000_000_000_000  # 2025-03-11T16:20:00Z
T_APP = 1_741_683_600_000_000_000  # 2025-03-11T09:00:00Z


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
