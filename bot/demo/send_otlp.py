"""The demo's OpenTelemetry leg: part of the org reports its usage the way Claude Code
does, through the OpenTelemetry SDK's OTLP/HTTP exporter, to the real `/v1/metrics`
endpoint of a local tokenboard server.

A live MeterProvider stamps points with the time of export, so the demo hands the
exporter SDK metric data with each session's own time instead (what a Claude Code that
exported after every session would have sent): 30 days of history land on their days.
"""

from __future__ import annotations

from typing import Any

from bot.runtime.deps import Deps
from bot.sources.reports import parse_ts
from bot.web.app import build_web_app
from bot.web.server import Server

SCOPE = "com.anthropic.claude_code"


def split_for_otlp(events: list[dict[str, Any]], emails: dict[str, str], every: int
                   ) -> tuple[list[dict], list[dict]]:
    """(events for the JSON path, the usage of every `every`-th person for OTLP)."""
    chosen = set(sorted(emails)[::every])
    otlp, rest = [], []
    for event in events:
        if event["type"] == "usage" and event.get("user") in chosen:
            otlp.append(event)
        else:
            rest.append(event)
    return rest, otlp


def send_through_otlp(deps: Deps, events: list[dict[str, Any]], emails: dict[str, str]
                      ) -> dict[str, int]:
    """Export each person's sessions as Claude Code metrics (delta temporality, protobuf)
    with the SDK's OTLP/HTTP exporter; return the tokens sent per person."""
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.sdk.metrics.export import (
        AggregationTemporality,
        Metric,
        MetricExportResult,
        MetricsData,
        NumberDataPoint,
        ResourceMetrics,
        ScopeMetrics,
        Sum,
    )
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

    token = deps.senders.create("demo-claude-code")
    server = Server(build_web_app(deps, None)).start()
    exporter = OTLPMetricExporter(endpoint=server.url + "/v1/metrics", timeout=30,
                                  headers={"Authorization": f"Bearer {token}"})
    by_person: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_person.setdefault(event["user"], []).append(event)
    sent: dict[str, int] = {}
    try:
        for user, mine in by_person.items():
            tokens, cost, sessions = [], [], []
            for event in mine:
                end = int(parse_ts(event["ts"]).timestamp() * 1e9)
                start = end - 600 * 10**9
                attrs = {"model": "claude-demo", "session.id": event["id"]}
                for kind, field in (("input", "input_tokens"), ("output", "output_tokens")):
                    tokens.append(NumberDataPoint({**attrs, "type": kind}, start, end,
                                                  event[field]))
                cost.append(NumberDataPoint(attrs, start, end, float(event["cost_usd"])))
                sessions.append(NumberDataPoint(attrs, start, end, 1))
                sent[user] = sent.get(user, 0) + event["input_tokens"] + event["output_tokens"]
            metrics = [Metric(name, None, unit, Sum(points, AggregationTemporality.DELTA, True))
                       for name, unit, points in (
                           ("claude_code.token.usage", "tokens", tokens),
                           ("claude_code.cost.usage", "USD", cost),
                           ("claude_code.session.count", "count", sessions))]
            resource = Resource.create({"service.name": "claude-code",
                                        "user.email": emails[user]})
            data = MetricsData([ResourceMetrics(resource, [ScopeMetrics(
                InstrumentationScope(SCOPE), metrics, "")], "")])
            if exporter.export(data) != MetricExportResult.SUCCESS:
                raise RuntimeError(f"the OTLP export for {user} failed")
    finally:
        exporter.shutdown()
        server.stop()
    return sent
