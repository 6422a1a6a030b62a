"""bot/sources/otlp: a request's body unpacked (content types and encodings, gzip and the
cap applied after it) and the answers (partial success, status bodies). Pure: no Redis.
"""

from __future__ import annotations

import gzip
import json
import tracemalloc
import zlib

import pytest
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2

from bot.sources.otlp import (
    OtlpError,
    decode_metrics,
    logs_response,
    metrics_response,
    status_body,
    unpack_body,
)
from tests.support.otlp_requests import (
    CLAUDE_ID,
    metrics_request,
    number_point,
    sum_metric,
)

MIB = 1024 * 1024


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
