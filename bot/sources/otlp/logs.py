"""OTLP logs → `Point`s: Claude Code's `api_request` events (tokens by type, cost, one
request each) and Codex's completed-response `codex.sse_event`s (`bot.sources.otlp.codex`),
each with its own exactly-once id."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2

from bot.sources.otlp import codex
from bot.sources.otlp.attributes import (
    Reject,
    by_key,
    canonical,
    digest,
    identity_attrs,
    number_attr,
    str_attr,
)
from bot.sources.otlp.model import Decoded, Point
from bot.sources.otlp.parse import parse_logs_request

API_REQUEST = "claude_code.api_request"
_API_FIELDS = (  # attribute, quantity, token_type
    ("input_tokens", "tokens", "input"),
    ("output_tokens", "tokens", "output"),
    ("cache_read_tokens", "tokens", "cache_read"),
    ("cache_creation_tokens", "tokens", "cache_creation"),
    ("cost_usd", "cost", None),
)


def decode_logs(raw: bytes, is_json: bool) -> Decoded:
    """Points from the `claude_code.api_request` and Codex's completed-response
    `codex.sse_event` events of an ExportLogsServiceRequest."""
    request = parse_logs_request(raw, is_json)
    out = Decoded()
    for rl in request.resource_logs:
        res = by_key(rl.resource.attributes)
        res_canon = canonical(res)
        service = str_attr(res, "service.name") or ""
        for sl in rl.scope_logs:
            scope = by_key(sl.scope.attributes)
            claude_scope = sl.scope.name.startswith("com.anthropic.claude_code")
            for record in sl.log_records:
                attrs = by_key(record.attributes)
                if _is_api_request(record, attrs, claude_scope or service == "claude-code"):
                    event, decode = API_REQUEST, _api_request_points
                elif codex.is_completed_response(record, attrs):
                    event, decode = codex.SSE_EVENT, codex.response_points
                else:
                    continue
                try:
                    out.points.extend(decode(
                        record, attrs, res, scope, res_canon, rl.resource, sl.scope.name))
                except Reject as exc:
                    out.reject(f"{event}: {exc}")
    return out


def _is_api_request(record: logs_pb2.LogRecord, attrs: Mapping[str, common_pb2.AnyValue],
                    from_claude_code: bool) -> bool:
    body = record.body
    if body.WhichOneof("value") == "string_value" and body.string_value == API_REQUEST:
        return True
    if record.event_name == API_REQUEST:
        return True
    event = str_attr(attrs, "event.name")
    return event == API_REQUEST or (event == "api_request" and from_claude_code)


def _api_request_points(record: logs_pb2.LogRecord, attrs: Mapping[str, common_pb2.AnyValue],
                        res: Mapping[str, common_pb2.AnyValue],
                        scope: Mapping[str, common_pb2.AnyValue], res_canon: list[Any],
                        resource: Any, scope_name: str) -> list[Point]:
    values: list[tuple[str, str | None, float]] = []
    for key, quantity, token_type in _API_FIELDS:
        number = number_attr(attrs, key)
        if number is None and key == "cost_usd":
            micros = number_attr(attrs, "cost_usd_micros")
            number = None if micros is None else micros / 1_000_000
        if number is not None:
            values.append((quantity, token_type, number))
    if not values:
        raise Reject("event has no token counts or cost")
    time_ns = record.time_unix_nano or record.observed_time_unix_nano
    if not time_ns:
        raise Reject("event has neither timeUnixNano nor observedTimeUnixNano")
    request_id = str_attr(attrs, "request_id")
    event_id = request_id or digest(
        "record", resource.SerializeToString(deterministic=True).hex(), scope_name,
        record.SerializeToString(deterministic=True).hex())
    identity = identity_attrs(res, scope, attrs)
    model = str_attr(attrs, "model") or None
    values.append(("requests", None, 1.0))
    return [Point(
        tool="claude_code", quantity=quantity, token_type=token_type, value=value,
        cumulative=False, start_ns=time_ns, time_ns=time_ns, attributes=identity, model=model,
        series=digest("log", res_canon, scope_name, API_REQUEST, sorted(identity.items()),
                       quantity, token_type),
        event_id=event_id) for quantity, token_type, value in values]
