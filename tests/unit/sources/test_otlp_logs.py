"""bot/sources/otlp: log records as claude_code.api_request events → exact points,
times, digests and refusals. Pure: no Redis.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.resource.v1 import resource_pb2

from bot.sources.otlp import (
    decode_logs,
)
from tests.support.otlp_requests import (
    CLAUDE_ID,
    T1,
    by_key,
    kvs,
)


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
