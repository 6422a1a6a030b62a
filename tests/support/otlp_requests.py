"""OTLP requests built with the generated protobuf classes (metrics, attributes), the
times they share, the suite's OTLP/JSON payloads (tests/payloads/otlp) read, and points
keyed by metric and type: for the tests of bot/sources/otlp."""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.resource.v1 import resource_pb2

from bot.sources.otlp import Point
from tests.support.paths import PAYLOADS as SUITE_PAYLOADS

PAYLOADS = SUITE_PAYLOADS / "otlp"
DELTA = metrics_pb2.AGGREGATION_TEMPORALITY_DELTA
CUMULATIVE = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
T0 = 1_789_332_594_000_000_000
T1 = T0 + 60_000_000_000


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


def metrics_request(metrics: list[metrics_pb2.Metric], resource: dict[str, Any] | None = None,
                    scope: str = "com.anthropic.claude_code") -> bytes:
    request = metrics_service_pb2.ExportMetricsServiceRequest(resource_metrics=[
        metrics_pb2.ResourceMetrics(
            resource=resource_pb2.Resource(attributes=kvs(resource or {})),
            scope_metrics=[metrics_pb2.ScopeMetrics(
                scope=common_pb2.InstrumentationScope(name=scope, version="2.1.0"),
                metrics=metrics)])])
    return request.SerializeToString()


def by_key(points: list[Point]) -> dict[tuple[str, str | None], Point]:
    keyed = {(p.quantity, p.token_type): p for p in points}
    assert len(keyed) == len(points), "two points share (quantity, token_type)"
    return keyed


CLAUDE_ID = {"user.email": "ana@example.com", "user.account_uuid": "acc-1",
             "user.id": "dev-9", "organization.id": "org-1", "session.id": "sess-1"}


def payload(name: str) -> bytes:
    return (PAYLOADS / name).read_bytes()
