"""OTLP/HTTP end to end with bodies of the suite's own (tests/payloads/otlp): OTLP/JSON and
gzip with rejections explained, refusals that speak OTLP (and what the SDK's exporter makes
of them), api_request log events, another service's export accepted and ignored, Claude
Code's own export.

The test marked `reference` also posts the OpenTelemetry project's examples from ../shared
(tests/reference.py: skipped without them, a failure in CI).
"""

from __future__ import annotations

import gzip
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    InMemoryMetricReader,
    MetricExportResult,
)
from opentelemetry.sdk.resources import Resource

from bot.core.config import BoardConfig
from bot.core.periods import local_date
from tests.conftest import App, http
from tests.reference import reference_dir
from tests.support.otlp_http import (
    AUTH,
    CLAUDE,
    DELTA,
    PROTO,
    board,
    claude_resource,
    partial,
    post,
    today,
)

PAYLOADS = Path(__file__).resolve().parent / "payloads" / "otlp"


JSON = {"Content-Type": "application/json", **AUTH}


def point_json(name: str, value: int, attrs: dict[str, str], kind: str = "sum",
               monotonic: bool = True, temporality: int = 1,
               when: datetime | None = None) -> dict:
    t = int((when or today()).timestamp() * 1e9)
    point = {"asInt": str(value), "startTimeUnixNano": str(t - 60 * 10**9),
             "timeUnixNano": t,  # int64 as a number here, as a string above
             "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in attrs.items()]}
    data: dict = {"dataPoints": [point]}
    if kind == "sum":
        data |= {"aggregationTemporality": temporality, "isMonotonic": monotonic}
    return {"name": name, kind: data}


def metrics_json(*metrics: dict, resource: dict[str, str] | None = None) -> bytes:
    res = [{"key": k, "value": {"stringValue": v}}
           for k, v in (resource or {"service.name": "claude-code"}).items()]
    return json.dumps({"resourceMetrics": [{"resource": {"attributes": res},
                                            "scopeMetrics": [{"scope": {"name": CLAUDE},
                                                              "metrics": list(metrics),
                                                              "unknownField": 1}]}]}).encode()


@pytest.mark.slow
def test_json_and_gzip_bodies_with_rejections_explained(app: App) -> None:
    app.stub.add_user("U0FAY", real_name="Fay", email="fay@example.com")
    fay = {"user.email": "fay@example.com", "type": "input"}
    yesterday = today() - timedelta(days=1)
    body = metrics_json(
        point_json("claude_code.token.usage", 700, fay),
        point_json("claude_code.token.usage", 11, fay, when=yesterday),  # a late export
        point_json("claude_code.token.usage", 5, fay, kind="gauge"),
        point_json("claude_code.token.usage", 6, fay, monotonic=False),
        point_json("claude_code.token.usage", 9, {"type": "input", "user.id": "install-1"}),
        point_json("some.other.metric", 1000, fay))  # not ours: ignored, not an error
    answer = post(app, "/v1/metrics", gzip.compress(body), {**JSON, "Content-Encoding": "gzip"})
    assert answer.status == 200 and answer.headers["Content-Type"] == "application/json"
    rejected, message = partial(answer, json_body=True)
    assert rejected == 3
    assert "gauge" in message and "monoton" in message and "user.id" in message
    assert board(app) == {"U0FAY": 700}
    assert board(app, day=local_date(yesterday, UTC)) == {"U0FAY": 11}


@pytest.mark.slow
def test_refusals_speak_otlp(app: App, settings) -> None:
    body = metrics_json(point_json("claude_code.token.usage", 1, {"user.email": "a@b.co"}))
    unauthorized = post(app, "/v1/metrics", body, {"Content-Type": "application/json"})
    assert unauthorized.status == 401 and "bearer" in json.loads(unauthorized.body)["message"]
    wrong = post(app, "/v1/metrics", body, {**JSON, "Authorization": "Bearer nope"})
    assert wrong.status == 401
    bad = post(app, "/v1/metrics", b"\x0a\xff\xff", PROTO)
    assert bad.status == 400
    from google.rpc import status_pb2

    assert status_pb2.Status.FromString(bad.body).message
    assert post(app, "/v1/metrics", b"{}", {**AUTH, "Content-Type": "text/plain"}).status == 415
    bomb = gzip.compress(b"\0" * (settings.otlp_max_bytes + 1))
    too_big = post(app, "/v1/metrics", bomb, {**PROTO, "Content-Encoding": "gzip"})
    assert too_big.status == 413
    assert http("GET", app.url + "/v1/metrics").status == 405


@pytest.mark.slow
def test_the_sdk_exporter_sees_success_and_refusal(app: App) -> None:
    app.stub.add_user("U0HAL", real_name="Hal", email="hal@example.com")
    reader = InMemoryMetricReader(preferred_temporality=DELTA)
    provider = MeterProvider(resource=Resource.create(claude_resource(
        **{"user.email": "hal@example.com"})), metric_readers=[reader])
    provider.get_meter(CLAUDE).create_counter("claude_code.token.usage").add(
        42, {"type": "input"})
    data = reader.get_metrics_data()
    refused = OTLPMetricExporter(endpoint=app.url + "/v1/metrics", timeout=5,
                                 headers={"Authorization": "Bearer wrong"})
    assert refused.export(data) == MetricExportResult.FAILURE
    accepted = OTLPMetricExporter(endpoint=app.url + "/v1/metrics", timeout=5,
                                  headers=dict(AUTH))
    assert accepted.export(data) == MetricExportResult.SUCCESS
    assert board(app) == {"U0HAL": 42}
    provider.shutdown()


def log_event(request_id: str, email: str, tokens: dict[str, int], cost: float) -> dict:
    attrs = {"event.name": "api_request", "request_id": request_id, "user.email": email,
             "model": "claude-x", "cost_usd": cost, **tokens}
    values = [{"key": k, "value": ({"doubleValue": v} if isinstance(v, float) else
                                   {"intValue": str(v)} if isinstance(v, int) else
                                   {"stringValue": v})} for k, v in attrs.items()]
    return {"timeUnixNano": str(int(today().timestamp() * 1e9)), "body":
            {"stringValue": "claude_code.api_request"}, "attributes": values,
            "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174"}


def logs_json(*records: dict) -> bytes:
    return json.dumps({"resourceLogs": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "claude-code"}}]},
        "scopeLogs": [{"scope": {"name": CLAUDE}, "logRecords": list(records)}]}]}).encode()


@pytest.mark.slow
def test_api_request_events_count_only_when_chosen(app: App) -> None:
    app.stub.add_user("U0GUS", real_name="Gus", email="gus@example.com")
    tokens = {"input_tokens": 100, "output_tokens": 20, "cache_read_tokens": 1000,
              "cache_creation_tokens": 50}
    body = logs_json(log_event("req_1", "gus@example.com", tokens, 0.02),
                     log_event("req_2", "gus@example.com", tokens, 0.02))
    answer = post(app, "/v1/logs", body, JSON)
    assert answer.status == 200
    assert board(app) == {}  # default: metrics count, events do not (never both)
    config = BoardConfig(claude_code_usage="events")
    app.deps.store.configs.save(config, by="test")
    for _ in range(2):  # the second export is a retry: request ids dedupe it
        assert post(app, "/v1/logs", body, JSON).status == 200
    assert board(app) == {"U0GUS": 2 * 1170}
    assert board(app, "cost", scope=3)["U0GUS"] == pytest.approx(0.04)
    answer = post(app, "/v1/logs", logs_json(log_event("req_3", "gus@example.com",
                                                      {"input_tokens": -5}, 0.0)), JSON)
    refused = json.loads(answer.body)["partialSuccess"]
    assert int(refused["rejectedLogRecords"]) == 1 and refused["errorMessage"]
    binary = post(app, "/v1/logs", b"", PROTO)
    assert binary.status == 200
    assert logs_service_pb2.ExportLogsServiceResponse.FromString(binary.body).partial_success \
        .rejected_log_records == 0


def accepted_and_ignored(app: App, bodies: dict[str, bytes]) -> None:
    """Each body (OTLP/JSON with nothing of ours in it), plain and gzipped: 200, no
    complaint, nothing on the board."""
    for path, body in bodies.items():
        answer = post(app, path, body, JSON)
        assert answer.status == 200, answer.body
        assert json.loads(answer.body or b"{}") == {}  # nothing of ours in them: no complaint
        zipped = post(app, path, gzip.compress(body), {**JSON, "Content-Encoding": "gzip"})
        assert zipped.status == 200
    assert board(app) == {}


@pytest.mark.slow
def test_another_services_export_is_accepted_and_ignored(app: App) -> None:
    accepted_and_ignored(app, {"/v1/metrics": (PAYLOADS / "metrics.generic.json").read_bytes(),
                               "/v1/logs": (PAYLOADS / "logs.generic.json").read_bytes()})


@pytest.mark.slow
@pytest.mark.reference
def test_example_payloads_from_opentelemetry_proto(app: App) -> None:
    examples = reference_dir("otlp")
    accepted_and_ignored(app, {"/v1/metrics": (examples / "metrics.json").read_bytes(),
                               "/v1/logs": (examples / "logs.json").read_bytes()})


def claude_code_export(name: str) -> bytes:
    """tests/payloads/otlp/<name> (Claude Code's export of 2025-03-11 16:20-16:21 UTC)
    moved to the last minute, so that it lands on today's boards."""
    now = time.time_ns() // 10**9 * 10**9
    text = (PAYLOADS / name).read_text()
    for then in range(1_741_710_000, 1_741_710_101):  # every second the payloads name
        text = text.replace(f'"{then * 10**9}"', f'"{now - (1_741_710_100 - then) * 10**9}"')
    return text.encode()


@pytest.mark.slow
def test_claude_codes_own_export_over_otlp_json(app: App) -> None:
    app.stub.add_user("U0MARA", real_name="Mara", email="mara.okafor@nimbus-works.example")
    metrics = claude_code_export("metrics.claude_code.json")
    for _ in range(2):  # the second is the exporter's retry: counted once
        answer = post(app, "/v1/metrics", metrics, JSON)
        assert answer.status == 200 and json.loads(answer.body or b"{}") == {}, answer.body
        assert board(app) == {"U0MARA": 1843 + 612 + 20488 + 3310}
    assert board(app, "cost", scope=3)["U0MARA"] == pytest.approx(0.0921)
    # its api_request events: the same usage, counted only when the events are chosen
    events = claude_code_export("logs.claude_code.json")
    assert post(app, "/v1/logs", events, JSON).status == 200
    assert board(app) == {"U0MARA": 26253}
    app.deps.store.configs.save(BoardConfig(claude_code_usage="events"), by="test")
    for _ in range(2):  # from now on the events count (once), next to what counted before
        assert post(app, "/v1/logs", events, JSON).status == 200
        assert board(app) == {"U0MARA": 26253 + 1290 + 418 + 15402 + 2118 + 553 + 194 + 5086}
