"""OTLP/HTTP wire format: request bodies in, normalized usage points out, responses back.

Pure functions, no Redis and no HTTP framework: the route reads the body and headers,
calls `read_body`, then `decode_metrics` / `decode_logs`, counts the `Point`s, and answers
with `metrics_response` / `logs_response` (or `status_body` with `OtlpError.status`).

Decoding uses the classes generated from opentelemetry-proto (binary protobuf, and
`google.protobuf.json_format` for OTLP/JSON), never a parser of our own. What is counted
is listed in docs/otlp.md; every other metric and log record is ignored silently, because
instrumented apps export plenty that has nothing to do with AI usage.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format
from google.protobuf import message as pb_message
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2

PROTOBUF = "application/x-protobuf"
JSON = "application/json"

# Attributes copied into Point.attributes (resource < scope < data point / log record).
IDENTITY_KEYS = ("user.email", "enduser.id", "user.account_uuid", "user.account_id", "user.id",
                 "organization.id", "session.id", "model")

MAX_REASONS = 20  # distinct reasons kept per request; the rest are only counted

_DELTA = metrics_pb2.AGGREGATION_TEMPORALITY_DELTA
_CUMULATIVE = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
_NO_RECORDED_VALUE = metrics_pb2.DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK
_RPC_INVALID_ARGUMENT = 3
_RPC_RESOURCE_EXHAUSTED = 8


class OtlpError(Exception):
    """The request as a whole is unusable: `status` is the HTTP status to answer with
    (400 undecodable, 413 too big after decompression, 415 unsupported content type or
    encoding) and `message` a short sentence for the sender (put it in `status_body`)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    @property
    def rpc_code(self) -> int:
        """The google.rpc.Code for `status_body`: RESOURCE_EXHAUSTED for 413, else
        INVALID_ARGUMENT."""
        return _RPC_RESOURCE_EXHAUSTED if self.status == 413 else _RPC_INVALID_ARGUMENT


@dataclass(frozen=True)
class Point:
    """One number to count, from a metric data point or an api_request log event."""

    tool: str  # "claude_code", "gemini_cli", or service.name for gen_ai.* metrics
    quantity: str  # "tokens", "cost", "sessions", "requests", "activity:<kind>"
    token_type: str | None  # input, output, cache_read, cache_creation, thought, tool, cache
    value: float
    cumulative: bool  # True: running total since start_ns; False: delta over the window
    start_ns: int
    time_ns: int
    attributes: dict[str, str]  # IDENTITY_KEYS found, resource < scope < point
    model: str | None
    series: str  # hex digest of resource attrs + scope name + metric name + point attrs
    event_id: str | None  # logs: request_id, else a digest of the record; metrics: None


@dataclass
class Decoded:
    points: list[Point] = field(default_factory=list)
    rejected: int = 0  # data points (metrics) or log records (logs) refused
    reasons: list[str] = field(default_factory=list)  # distinct, at most MAX_REASONS

    def reject(self, reason: str, count: int = 1) -> None:
        self.rejected += count
        if reason not in self.reasons and len(self.reasons) < MAX_REASONS:
            self.reasons.append(reason)

    def message(self) -> str:
        """The reasons as one line for partial_success.error_message ("" when none)."""
        return "; ".join(self.reasons)


# ---------------------------------------------------------------------------------------
# Body: content type, Content-Encoding, size cap


def read_body(body: bytes, content_type: str, content_encoding: str,
              max_bytes: int) -> tuple[bytes, bool]:
    """The request body ready to decode, and whether it is OTLP/JSON.

    Accepts `application/x-protobuf` and `application/json` (parameters such as charset are
    ignored) and Content-Encoding `gzip` (or none / identity). The size cap applies to the
    body as sent and again after decompression, which is streamed so a gzip bomb is never
    inflated beyond `max_bytes + 1` bytes."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media == PROTOBUF:
        is_json = False
    elif media == JSON:
        is_json = True
    else:
        raise OtlpError(415, f"unsupported Content-Type {media or '(none)'!r}; "
                             f"use {PROTOBUF} or {JSON}")
    codings = [c.strip().lower() for c in content_encoding.split(",")]
    codings = [c for c in codings if c and c != "identity"]
    if len(body) > max_bytes:
        raise OtlpError(413, f"body is larger than {max_bytes} bytes")
    if not codings:
        return body, is_json
    if codings not in (["gzip"], ["x-gzip"]):
        raise OtlpError(415, f"unsupported Content-Encoding {content_encoding.strip()!r}; "
                             "use gzip or none")
    return _gunzip(body, max_bytes), is_json


def _gunzip(body: bytes, max_bytes: int) -> bytes:
    out: list[bytes] = []
    total = 0
    data = body
    while True:  # one gzip member per turn (concatenated members are valid gzip)
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            while True:
                # max_length > 0 always (total <= max_bytes here): at most one byte over
                chunk = inflater.decompress(data, max_bytes + 1 - total)
                total += len(chunk)
                if total > max_bytes:
                    raise OtlpError(413, f"body is larger than {max_bytes} bytes "
                                         "after decompression")
                out.append(chunk)
                if inflater.eof:
                    break
                data = inflater.unconsumed_tail
                if not chunk and not data:
                    raise OtlpError(400, "gzip body is truncated")
        except zlib.error as exc:
            raise OtlpError(400, f"body is not valid gzip: {exc}") from None
        data = inflater.unused_data
        if not data:
            return b"".join(out)


# ---------------------------------------------------------------------------------------
# Parsing requests (protobuf or OTLP/JSON) into the generated classes


def parse_metrics_request(raw: bytes,
                          is_json: bool) -> metrics_service_pb2.ExportMetricsServiceRequest:
    """An ExportMetricsServiceRequest, or OtlpError(400)."""
    request = metrics_service_pb2.ExportMetricsServiceRequest()
    _parse(raw, is_json, request, _fix_metric_ids)
    return request


def parse_logs_request(raw: bytes, is_json: bool) -> logs_service_pb2.ExportLogsServiceRequest:
    """An ExportLogsServiceRequest, or OtlpError(400)."""
    request = logs_service_pb2.ExportLogsServiceRequest()
    _parse(raw, is_json, request, _fix_log_ids)
    return request


_PARSE_ERRORS = (ValueError, TypeError, AttributeError, KeyError, IndexError, RecursionError,
                 OverflowError, json_format.Error, pb_message.Error)


def _parse(raw: bytes, is_json: bool, request: pb_message.Message, fix_ids: Any) -> None:
    kind = "OTLP/JSON" if is_json else "OTLP protobuf"
    try:
        if is_json:
            doc = json.loads(raw)
            if not isinstance(doc, dict):
                raise OtlpError(400, f"body is not {kind}: the top level must be an object")
            fix_ids(doc)
            json_format.ParseDict(doc, request, ignore_unknown_fields=True)
        else:
            request.ParseFromString(raw)
    except OtlpError:
        raise
    except _PARSE_ERRORS as exc:
        text = " ".join(str(exc).split())
        raise OtlpError(400, f"body is not {kind} ({request.DESCRIPTOR.name}): "
                             f"{text[:200]}") from None
    request.DiscardUnknownFields()  # so protobuf and JSON of one record digest alike


_ID_HEX_DIGITS = {"traceId": 32, "trace_id": 32, "spanId": 16, "span_id": 16}
_HEX = re.compile(r"[0-9a-fA-F]*")


def _hex_ids(obj: Any) -> None:
    """OTLP/JSON spells trace and span ids in hex, where json_format expects base64 for
    bytes fields: rewrite them. Anything but hex of the right length (or "") is refused,
    as the OpenTelemetry Collector does."""
    if not isinstance(obj, dict):
        return
    for key, digits in _ID_HEX_DIGITS.items():
        value = obj.get(key)
        if not isinstance(value, str):
            continue  # absent, or malformed: json_format says so
        if value and (len(value) != digits or not _HEX.fullmatch(value)):
            raise OtlpError(400, f"body is not OTLP/JSON: {key} must be {digits} hex digits, "
                                 f"got {value[:40]!r}")
        obj[key] = base64.b64encode(bytes.fromhex(value)).decode("ascii")


def _items(obj: Any, *keys: str) -> Iterable[Any]:
    """The list under the first of `keys` present in dict `obj` (nothing if malformed:
    json_format reports malformed documents itself)."""
    if isinstance(obj, dict):
        for key in keys:
            if key in obj:
                value = obj[key]
                return value if isinstance(value, list) else ()
    return ()


def _fix_log_ids(doc: dict) -> None:
    for rl in _items(doc, "resourceLogs", "resource_logs"):
        for sl in _items(rl, "scopeLogs", "scope_logs"):
            for record in _items(sl, "logRecords", "log_records"):
                _hex_ids(record)


_DATA_KEYS = ("sum", "gauge", "histogram", "exponentialHistogram", "exponential_histogram",
              "summary")


def _fix_metric_ids(doc: dict) -> None:
    for rm in _items(doc, "resourceMetrics", "resource_metrics"):
        for sm in _items(rm, "scopeMetrics", "scope_metrics"):
            for metric in _items(sm, "metrics"):
                if not isinstance(metric, dict):
                    continue
                for data_key in _DATA_KEYS:
                    for dp in _items(metric.get(data_key), "dataPoints", "data_points"):
                        for exemplar in _items(dp, "exemplars"):
                            _hex_ids(exemplar)


# ---------------------------------------------------------------------------------------
# Attribute helpers


def _attrs(kvs: Iterable[common_pb2.KeyValue]) -> dict[str, common_pb2.AnyValue]:
    return {kv.key: kv.value for kv in kvs}  # a repeated key: the last one wins


def _tagged(value: common_pb2.AnyValue) -> Any:
    """A JSON-able, type-tagged form of an AnyValue: 1, "1" and 1.0 stay distinct."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return ["s", value.string_value]
    if kind == "bool_value":
        return ["b", value.bool_value]
    if kind == "int_value":
        return ["i", str(value.int_value)]
    if kind == "double_value":
        return ["d", repr(value.double_value)]
    if kind == "bytes_value":
        return ["x", value.bytes_value.hex()]
    if kind == "array_value":
        return ["a", [_tagged(v) for v in value.array_value.values]]
    if kind == "kvlist_value":
        return ["k", _canonical(_attrs(value.kvlist_value.values))]
    return ["n"]


def _canonical(attrs: Mapping[str, common_pb2.AnyValue]) -> list[Any]:
    return [[key, _tagged(attrs[key])] for key in sorted(attrs)]


def _text(value: common_pb2.AnyValue) -> str | None:
    """An attribute as text (identity values are strings; others are rendered)."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind == "int_value":
        return str(value.int_value)
    if kind == "double_value":
        return repr(value.double_value)
    if kind == "bytes_value":
        return value.bytes_value.hex()
    if kind is None:
        return None
    return json.dumps(_tagged(value), separators=(",", ":"), ensure_ascii=False)


def _str_attr(attrs: Mapping[str, common_pb2.AnyValue], key: str) -> str | None:
    value = attrs.get(key)
    return _text(value) if value is not None else None


def _identity(*layers: Mapping[str, common_pb2.AnyValue]) -> dict[str, str]:
    merged: dict[str, str] = {}
    for layer in layers:  # later layers win
        for key in IDENTITY_KEYS:
            if key in layer:
                text = _text(layer[key])
                if text:
                    merged[key] = text
    return merged


def _digest(*parts: Any) -> str:
    blob = json.dumps(parts, separators=(",", ":"), ensure_ascii=False)
    return hashlib.blake2b(blob.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


class _Reject(Exception):
    pass


# ---------------------------------------------------------------------------------------
# Metrics

_CLAUDE_TOKENS = {"input": "input", "output": "output", "cacheRead": "cache_read",
                  "cacheCreation": "cache_creation"}
_GEMINI_TOKENS = {t: t for t in ("input", "output", "thought", "cache", "tool")}
_GENAI_TOKENS = {"input": "input", "output": "output"}
_LINES = {"added": "activity:lines_added", "removed": "activity:lines_removed"}


@dataclass(frozen=True)
class _Rule:
    tool: str | None  # None: the resource's service.name
    quantity: str  # "tokens" splits by `type_key` into token_type; others map to a quantity
    type_key: str | None = None
    types: Mapping[str, str] | None = None


GENAI_TOKEN_USAGE = "gen_ai.client.token.usage"
METRICS: dict[str, _Rule] = {
    "claude_code.token.usage": _Rule("claude_code", "tokens", "type", _CLAUDE_TOKENS),
    "claude_code.cost.usage": _Rule("claude_code", "cost"),
    "claude_code.session.count": _Rule("claude_code", "sessions"),
    "claude_code.commit.count": _Rule("claude_code", "activity:commits"),
    "claude_code.pull_request.count": _Rule("claude_code", "activity:pull_requests"),
    "claude_code.lines_of_code.count": _Rule("claude_code", "activity:lines", "type", _LINES),
    "gemini_cli.token.usage": _Rule("gemini_cli", "tokens", "type", _GEMINI_TOKENS),
    "gemini_cli.api.request.count": _Rule("gemini_cli", "requests"),
    GENAI_TOKEN_USAGE: _Rule(None, "tokens", "gen_ai.token.type", _GENAI_TOKENS),
}
# These tools export gen_ai.client.token.usage next to their own token metric: counting
# both would count their tokens twice, so their gen_ai.* copy is ignored.
_OWN_TOKEN_METRICS = ("claude_code.token.usage", "gemini_cli.token.usage")
_OWN_SERVICE_NAMES = ("claude-code", "gemini-cli")
GENAI_FALLBACK_TOOL = "genai"


def decode_metrics(raw: bytes, is_json: bool) -> Decoded:
    """The countable points of an ExportMetricsServiceRequest (see docs/otlp.md)."""
    request = parse_metrics_request(raw, is_json)
    out = Decoded()
    for rm in request.resource_metrics:
        res = _attrs(rm.resource.attributes)
        res_canon = _canonical(res)
        service = _str_attr(res, "service.name") or ""
        names = {m.name for sm in rm.scope_metrics for m in sm.metrics}
        skip_genai = service in _OWN_SERVICE_NAMES or any(n in names for n in _OWN_TOKEN_METRICS)
        for sm in rm.scope_metrics:
            scope = _attrs(sm.scope.attributes)
            for metric in sm.metrics:
                rule = METRICS.get(metric.name)
                if rule is None or (metric.name == GENAI_TOKEN_USAGE and skip_genai):
                    continue
                tool = rule.tool or _service_tool(service)
                _metric_points(metric, rule, tool, res, scope, res_canon, sm.scope.name, out)
    return out


def _service_tool(service: str) -> str:
    if not service or service.startswith("unknown_service"):
        return GENAI_FALLBACK_TOOL
    return service


def _metric_points(metric: metrics_pb2.Metric, rule: _Rule, tool: str,
                   res: Mapping[str, common_pb2.AnyValue],
                   scope: Mapping[str, common_pb2.AnyValue], res_canon: list[Any],
                   scope_name: str, out: Decoded) -> None:
    name = metric.name
    kind = metric.WhichOneof("data")
    data: Any
    if kind == "sum":
        data = metric.sum
        if not data.is_monotonic and data.data_points:
            out.reject(f"{name}: non-monotonic sums are not counted (only monotonic sums "
                       "and histograms)", len(data.data_points))
            return
    elif kind in ("histogram", "exponential_histogram"):
        data = getattr(metric, kind)
    elif kind is None:
        return  # no data at all: nothing to count or refuse
    else:  # gauge, summary
        if not getattr(metric, kind).data_points:
            return
        out.reject(f"{name}: {kind} points are not counted (only monotonic sums and "
                   "histograms)", len(getattr(metric, kind).data_points))
        return
    if not data.data_points:
        return
    temporality = data.aggregation_temporality
    if temporality not in (_DELTA, _CUMULATIVE):
        out.reject(f"{name}: aggregation temporality {temporality} is neither delta (1) nor "
                   "cumulative (2)", len(data.data_points))
        return
    for dp in data.data_points:
        if dp.flags & _NO_RECORDED_VALUE:
            continue  # a staleness marker, not a value
        try:
            value = _point_value(dp, kind)
            if dp.time_unix_nano == 0:
                raise _Reject("data point has no timeUnixNano")
            attrs = _attrs(dp.attributes)
            quantity, token_type = _classify(rule, attrs)
        except _Reject as exc:
            out.reject(f"{name}: {exc}")
            continue
        if rule.tool is None:  # gen_ai.*: model from the semantic-convention attributes
            model = (_str_attr(attrs, "gen_ai.response.model")
                     or _str_attr(attrs, "gen_ai.request.model"))
        else:
            model = _str_attr(attrs, "model")
        out.points.append(Point(
            tool=tool, quantity=quantity, token_type=token_type, value=value,
            cumulative=temporality == _CUMULATIVE, start_ns=dp.start_time_unix_nano,
            time_ns=dp.time_unix_nano, attributes=_identity(res, scope, attrs),
            model=model or None,
            series=_digest("metric", res_canon, scope_name, name, _canonical(attrs)),
            event_id=None))


def _point_value(dp: Any, kind: str) -> float:
    if kind == "sum":
        which = dp.WhichOneof("value")
        if which is None:
            raise _Reject("data point has no value")
        value = float(dp.as_double if which == "as_double" else dp.as_int)
    elif dp.HasField("sum"):
        value = dp.sum
    elif dp.count == 0:
        value = 0.0
    else:
        raise _Reject("histogram point has no sum")
    return _check(value)


def _check(value: float) -> float:
    if math.isnan(value):
        raise _Reject("NaN values are not counted")
    if math.isinf(value):
        raise _Reject("infinite values are not counted")
    if value < 0:
        raise _Reject(f"negative values are not counted ({value:g})")
    return value + 0.0  # -0.0 → 0.0


def _classify(rule: _Rule, attrs: Mapping[str, common_pb2.AnyValue]) -> tuple[str, str | None]:
    if rule.type_key is None or rule.types is None:
        return rule.quantity, None
    raw = _str_attr(attrs, rule.type_key)
    if raw is None:
        raise _Reject(f"data point has no {rule.type_key!r} attribute")
    mapped = rule.types.get(raw)
    if mapped is None:
        raise _Reject(f"unknown {rule.type_key} {raw!r} (known: {', '.join(rule.types)})")
    if rule.quantity == "tokens":
        return "tokens", mapped
    return mapped, None


# ---------------------------------------------------------------------------------------
# Logs

API_REQUEST = "claude_code.api_request"
_API_FIELDS = (  # attribute, quantity, token_type
    ("input_tokens", "tokens", "input"),
    ("output_tokens", "tokens", "output"),
    ("cache_read_tokens", "tokens", "cache_read"),
    ("cache_creation_tokens", "tokens", "cache_creation"),
    ("cost_usd", "cost", None),
)
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def decode_logs(raw: bytes, is_json: bool) -> Decoded:
    """Points from the `claude_code.api_request` events of an ExportLogsServiceRequest."""
    request = parse_logs_request(raw, is_json)
    out = Decoded()
    for rl in request.resource_logs:
        res = _attrs(rl.resource.attributes)
        res_canon = _canonical(res)
        service = _str_attr(res, "service.name") or ""
        for sl in rl.scope_logs:
            scope = _attrs(sl.scope.attributes)
            claude_scope = sl.scope.name.startswith("com.anthropic.claude_code")
            for record in sl.log_records:
                attrs = _attrs(record.attributes)
                if not _is_api_request(record, attrs, claude_scope or service == "claude-code"):
                    continue
                try:
                    out.points.extend(_api_request_points(
                        record, attrs, res, scope, res_canon, rl.resource, sl.scope.name))
                except _Reject as exc:
                    out.reject(f"{API_REQUEST}: {exc}")
    return out


def _is_api_request(record: logs_pb2.LogRecord, attrs: Mapping[str, common_pb2.AnyValue],
                    from_claude_code: bool) -> bool:
    body = record.body
    if body.WhichOneof("value") == "string_value" and body.string_value == API_REQUEST:
        return True
    if record.event_name == API_REQUEST:
        return True
    event = _str_attr(attrs, "event.name")
    return event == API_REQUEST or (event == "api_request" and from_claude_code)


def _number(attrs: Mapping[str, common_pb2.AnyValue], key: str) -> float | None:
    value = attrs.get(key)
    if value is None:
        return None
    kind = value.WhichOneof("value")
    if kind == "int_value":
        number = float(value.int_value)
    elif kind == "double_value":
        number = value.double_value
    elif kind == "string_value" and _NUMBER.fullmatch(value.string_value.strip()):
        number = float(value.string_value)
    else:
        raise _Reject(f"{key} is not a number ({_text(value)!r})")
    try:
        return _check(number)
    except _Reject as exc:
        raise _Reject(f"{key}: {exc}") from None


def _api_request_points(record: logs_pb2.LogRecord, attrs: Mapping[str, common_pb2.AnyValue],
                        res: Mapping[str, common_pb2.AnyValue],
                        scope: Mapping[str, common_pb2.AnyValue], res_canon: list[Any],
                        resource: Any, scope_name: str) -> list[Point]:
    values: list[tuple[str, str | None, float]] = []
    for key, quantity, token_type in _API_FIELDS:
        number = _number(attrs, key)
        if number is None and key == "cost_usd":
            micros = _number(attrs, "cost_usd_micros")
            number = None if micros is None else micros / 1_000_000
        if number is not None:
            values.append((quantity, token_type, number))
    if not values:
        raise _Reject("event has no token counts or cost")
    time_ns = record.time_unix_nano or record.observed_time_unix_nano
    if not time_ns:
        raise _Reject("event has neither timeUnixNano nor observedTimeUnixNano")
    request_id = _str_attr(attrs, "request_id")
    event_id = request_id or _digest(
        "record", resource.SerializeToString(deterministic=True).hex(), scope_name,
        record.SerializeToString(deterministic=True).hex())
    identity = _identity(res, scope, attrs)
    model = _str_attr(attrs, "model") or None
    values.append(("requests", None, 1.0))
    return [Point(
        tool="claude_code", quantity=quantity, token_type=token_type, value=value,
        cumulative=False, start_ns=time_ns, time_ns=time_ns, attributes=identity, model=model,
        series=_digest("log", res_canon, scope_name, API_REQUEST, sorted(identity.items()),
                       quantity, token_type),
        event_id=event_id) for quantity, token_type, value in values]


# ---------------------------------------------------------------------------------------
# Responses


def _encode(msg: pb_message.Message, as_json: bool) -> bytes:
    if as_json:
        return json.dumps(json_format.MessageToDict(msg), separators=(",", ":")).encode()
    return msg.SerializeToString()


def metrics_response(rejected: int, message: str, as_json: bool) -> bytes:
    """ExportMetricsServiceResponse; partial_success only when rejected > 0 or message."""
    response = metrics_service_pb2.ExportMetricsServiceResponse()
    if rejected > 0 or message:
        response.partial_success.rejected_data_points = rejected
        response.partial_success.error_message = message
    return _encode(response, as_json)


def logs_response(rejected: int, message: str, as_json: bool) -> bytes:
    """ExportLogsServiceResponse; partial_success only when rejected > 0 or message."""
    response = logs_service_pb2.ExportLogsServiceResponse()
    if rejected > 0 or message:
        response.partial_success.rejected_log_records = rejected
        response.partial_success.error_message = message
    return _encode(response, as_json)


def status_body(code: int, message: str, as_json: bool) -> bytes:
    """A google.rpc.Status for a failed request. `code` is a google.rpc.Code (3
    INVALID_ARGUMENT, 8 RESOURCE_EXHAUSTED, 14 UNAVAILABLE...), not the HTTP status:
    see OtlpError.rpc_code."""
    return _encode(status_pb2.Status(code=code, message=message), as_json)
