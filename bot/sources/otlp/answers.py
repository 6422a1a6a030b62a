"""OTLP/HTTP answers, in the request's encoding (protobuf or OTLP/JSON): the Export…
ServiceResponse with its partial_success, and a google.rpc.Status for a failed request."""

from __future__ import annotations

import json

from google.protobuf import json_format
from google.protobuf import message as pb_message
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2

# google.rpc.Code values answered
INVALID_ARGUMENT, RESOURCE_EXHAUSTED, UNAVAILABLE, UNAUTHENTICATED = 3, 8, 14, 16
_RPC_CODES = {401: UNAUTHENTICATED, 413: RESOURCE_EXHAUSTED, 429: RESOURCE_EXHAUSTED,
              503: UNAVAILABLE}


def rpc_code(status: int) -> int:
    """The google.rpc.Code of a failed request's HTTP status: UNAUTHENTICATED for 401,
    RESOURCE_EXHAUSTED for 413 and 429, UNAVAILABLE for 503, else INVALID_ARGUMENT."""
    return _RPC_CODES.get(status, INVALID_ARGUMENT)


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
    see `rpc_code`."""
    return _encode(status_pb2.Status(code=code, message=message), as_json)
