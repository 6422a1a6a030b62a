"""The OTLP/HTTP tests' requests (the ingest token's headers, the delta temporality,
Claude Code's resource, a POST to the app), their partial-success answers, and the boards
they read back."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.sdk.metrics import Counter, Histogram
from opentelemetry.sdk.metrics.export import AggregationTemporality

from bot.core.periods import buckets_for_day, local_date
from tests.conftest import INGEST_TOKEN, App, HttpAnswer, http

AUTH = {"Authorization": f"Bearer {INGEST_TOKEN}"}
PROTO = {"Content-Type": "application/x-protobuf", **AUTH}
DELTA = {Counter: AggregationTemporality.DELTA, Histogram: AggregationTemporality.DELTA}
CLAUDE = "com.anthropic.claude_code"


def today() -> datetime:
    return datetime.now(UTC)


def board(app: App, metric: str = "tokens", scope: int = 0, day=None) -> dict[str, float]:
    """One board's scores (cost and requests: all-time only, unless the raw metric)."""
    day = day or local_date(today(), UTC)
    key = app.deps.store.keys.board(metric, buckets_for_day(day)[scope])
    return {m.decode(): s for m, s in app.deps.store.r.zrange(key, 0, -1, withscores=True)}


def claude_resource(**extra: str) -> dict[str, str]:
    return {"service.name": "claude-code", **extra}


def post(app: App, path: str, body: bytes, headers: dict[str, str]) -> HttpAnswer:
    return http("POST", app.url + path, body, headers)


def partial(answer: HttpAnswer, json_body: bool = False) -> tuple[int, str]:
    if json_body:
        data = json.loads(answer.body or b"{}").get("partialSuccess", {})
        return int(data.get("rejectedDataPoints", 0)), data.get("errorMessage", "")
    response = metrics_service_pb2.ExportMetricsServiceResponse.FromString(answer.body)
    return response.partial_success.rejected_data_points, response.partial_success.error_message
