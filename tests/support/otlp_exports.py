"""OTLP exports shaped as the real tools send them, for tests of more than one module:
a Claude Code token-usage export built as protobuf, and Cursor's usage recorded through
the OpenTelemetry SDK."""

from __future__ import annotations

from datetime import UTC, datetime

from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.sdk.metrics import MeterProvider


def _kv(key: str, value: str) -> common_pb2.KeyValue:
    return common_pb2.KeyValue(key=key, value=common_pb2.AnyValue(string_value=value))


def export(email: str, n: int, tokens: float = 100.0) -> bytes:
    """Claude Code's token usage of one person: input and output, delta, export n."""
    t = int(datetime.now(UTC).timestamp()) * 10**9 - 10**9 * (1000 - n)
    points = [metrics_pb2.NumberDataPoint(
        attributes=[_kv("user.email", email), _kv("type", kind), _kv("model", "m")],
        start_time_unix_nano=t - 60 * 10**9, time_unix_nano=t, as_double=tokens)
        for kind in ("input", "output")]
    metric = metrics_pb2.Metric(name="claude_code.token.usage", unit="tokens",
                                sum=metrics_pb2.Sum(data_points=points, is_monotonic=True,
                                                    aggregation_temporality=1))
    return metrics_service_pb2.ExportMetricsServiceRequest(resource_metrics=[
        metrics_pb2.ResourceMetrics(
            resource=resource_pb2.Resource(attributes=[_kv("service.name", "claude-code")]),
            scope_metrics=[metrics_pb2.ScopeMetrics(metrics=[metric])])]
    ).SerializeToString()


def cursor_usage(provider: MeterProvider) -> None:
    """Cursor's token and cost counters, recorded as its exporter records them."""
    meter = provider.get_meter("cursor.telemetry", "0.1.0")
    tokens = meter.create_counter("cursor.token.usage")
    for token_type, amount in {"input": 1200, "output": 340, "cache_read": 9000,
                               "cache_creation": 150}.items():
        tokens.add(amount, {"cursor.token.type": token_type})
    meter.create_counter("cursor.cost.usage", unit="USD").add(0.42)
