"""Request bodies (binary protobuf, or OTLP/JSON) parsed into the classes generated from
opentelemetry-proto; OTLP/JSON's hex trace and span ids made what json_format reads."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from typing import Any

from google.protobuf import json_format
from google.protobuf import message as pb_message
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2

from bot.sources.otlp.model import OtlpError


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
