"""OpenAI Codex CLI's log events → `Point`s: `codex.sse_event` with `event.kind`
`response.completed`, one per model response, carrying its token counts and the person
(`user.email`, `user.account_id`).

Codex counts as the Responses API does: `input_token_count` includes `cached_token_count`
and `output_token_count` includes `reasoning_token_count`. So input and output are the
tokens; cached input and reasoning output are kept apart as their own token types
(`cached_input`, `reasoning_output`), never added to them again. Its metric
`codex.turn.token_usage` is read by `bot.sources.otlp.metrics`; which of the two counts is
the `codex_usage` setting.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2

from bot.sources.otlp.attributes import Reject, digest, identity_attrs, number_attr, str_attr
from bot.sources.otlp.model import Point

SSE_EVENT = "codex.sse_event"
COMPLETED = "response.completed"
TOOL = "codex"
_FIELDS = (  # attribute, token_type
    ("input_token_count", "input"),
    ("output_token_count", "output"),
    ("cached_token_count", "cached_input"),
    ("reasoning_token_count", "reasoning_output"),
)


def is_completed_response(record: logs_pb2.LogRecord,
                          attrs: Mapping[str, common_pb2.AnyValue]) -> bool:
    """Whether the record is Codex's `codex.sse_event` of a completed response."""
    name = str_attr(attrs, "event.name") or record.event_name
    return name == SSE_EVENT and str_attr(attrs, "event.kind") == COMPLETED


def response_points(record: logs_pb2.LogRecord, attrs: Mapping[str, common_pb2.AnyValue],
                    res: Mapping[str, common_pb2.AnyValue],
                    scope: Mapping[str, common_pb2.AnyValue], res_canon: list[Any],
                    resource: Any, scope_name: str) -> list[Point]:
    """The tokens of one completed response, and one request. A completed response that
    failed (an `error.message`, no counts) is nothing to count: []. Reject when a count is
    not a countable number or the record has no time."""
    values = [(token_type, number) for key, token_type in _FIELDS
              if (number := number_attr(attrs, key)) is not None]
    if not any(token_type in ("input", "output") for token_type, _ in values):
        return []
    time_ns = record.time_unix_nano or record.observed_time_unix_nano
    if not time_ns:
        raise Reject("event has neither timeUnixNano nor observedTimeUnixNano")
    conversation = str_attr(attrs, "conversation.id")
    stamp = str_attr(attrs, "event.timestamp")
    if conversation and stamp:  # one response of a conversation completes at a time
        event_id = f"codex:{conversation}:{stamp}"
    else:
        event_id = digest("record", resource.SerializeToString(deterministic=True).hex(),
                          scope_name, record.SerializeToString(deterministic=True).hex())
    identity = identity_attrs(res, scope, attrs)
    model = str_attr(attrs, "model") or None
    quantities: list[tuple[str, str | None, float]] = [
        ("tokens", token_type, number) for token_type, number in values]
    quantities.append(("requests", None, 1.0))
    return [Point(
        tool=TOOL, quantity=quantity, token_type=token_type, value=value, cumulative=False,
        start_ns=time_ns, time_ns=time_ns, attributes=identity, model=model,
        series=digest("log", res_canon, scope_name, SSE_EVENT, sorted(identity.items()),
                       quantity, token_type),
        event_id=event_id) for quantity, token_type, value in quantities]
