"""OTLP/HTTP end to end: the real OpenTelemetry SDK and its OTLP/HTTP exporter against the
real server, exact totals on the boards, OTLP answers, exactly-once across retries.

OTLP/JSON bodies are the suite's own (tests/payloads/otlp); the test marked `reference` also
posts the OpenTelemetry project's examples from ../shared (tests/reference.py: skipped
without them, a failure in CI)."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    InMemoryMetricReader,
    MetricExportResult,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource

from bot.core.config import BoardConfig
from bot.core.periods import local_date
from tests.conftest import INGEST_TOKEN, App, HttpAnswer, Outage, http
from tests.reference import reference_dir
from tests.support.otlp_http import board, today

PAYLOADS = Path(__file__).resolve().parent / "payloads" / "otlp"
AUTH = {"Authorization": f"Bearer {INGEST_TOKEN}"}
PROTO = {"Content-Type": "application/x-protobuf", **AUTH}
JSON = {"Content-Type": "application/json", **AUTH}
DELTA = {Counter: AggregationTemporality.DELTA, Histogram: AggregationTemporality.DELTA}
CLAUDE = "com.anthropic.claude_code"


class Sdk:
    """A MeterProvider exporting through the real OTLP/HTTP exporter on demand."""

    def __init__(self, app: App, resource: dict[str, str], delta: bool,
                 headers: dict[str, str] | None = None) -> None:
        self.exporter = OTLPMetricExporter(
            endpoint=app.url + "/v1/metrics", headers=headers or dict(AUTH), timeout=10,
            preferred_temporality=DELTA if delta else None)
        self.reader = PeriodicExportingMetricReader(self.exporter,
                                                    export_interval_millis=3_600_000)
        self.provider = MeterProvider(resource=Resource.create(resource),
                                      metric_readers=[self.reader])

    def meter(self, name: str = CLAUDE):
        return self.provider.get_meter(name)

    def flush(self) -> None:
        assert self.reader.force_flush(timeout_millis=10_000)

    def close(self) -> None:
        self.provider.shutdown()


@pytest.fixture
def sdks() -> Iterator[list[Sdk]]:
    made: list[Sdk] = []
    yield made
    for sdk in made:
        sdk.close()


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


@pytest.mark.slow
def test_claude_code_delta_export_counts_every_token_type(app: App, sdks: list[Sdk]) -> None:
    app.stub.add_user("U0ANA", real_name="Ana", email="ana@example.com")
    sdk = Sdk(app, claude_resource(), delta=True)
    sdks.append(sdk)
    meter = sdk.meter()
    tokens = meter.create_counter("claude_code.token.usage", unit="tokens")
    cost = meter.create_counter("claude_code.cost.usage", unit="USD")
    sessions = meter.create_counter("claude_code.session.count")
    commits = meter.create_counter("claude_code.commit.count")
    who = {"user.email": "ana@example.com", "user.id": "install-123", "model": "claude-x"}
    sent = {"input": 0, "output": 0, "cacheRead": 0, "cacheCreation": 0}
    for round_, scale in enumerate((1, 3)):
        for i, kind in enumerate(sent):
            amount = (i + 1) * 100 * scale
            tokens.add(amount, {**who, "type": kind})
            sent[kind] += amount
        cost.add(0.25 * scale, who)
        if round_ == 0:
            sessions.add(1, who)
            commits.add(2, who)
        sdk.flush()
    total = sum(sent.values())  # all four types count by default
    assert board(app) == {"U0ANA": total}
    assert board(app, "cost", scope=3)["U0ANA"] == pytest.approx(1.0)
    day = app.deps.store.reads.day_counts(local_date(today(), UTC), "U0ANA")
    assert day["input_tokens"] == sent["input"] and day["output_tokens"] == sent["output"]
    assert day["cache_read_tokens"] == sent["cacheRead"]
    assert day["cache_creation_tokens"] == sent["cacheCreation"]
    assert (day["sessions"], day["a:commits"]) == (1, 2)
    assert board(app, "points") == {"U0ANA": 0}  # the tool's own commit claims are not points
    sdk.flush()  # nothing new: an empty delta adds nothing
    assert board(app) == {"U0ANA": total}


@pytest.mark.slow
def test_cumulative_series_exact_across_restart_and_replay(app: App, sdks: list[Sdk]) -> None:
    app.stub.add_user("U0BO", real_name="Bo", email="bo@example.com")
    first = Sdk(app, claude_resource(**{"user.email": "bo@example.com"}), delta=False)
    sdks.append(first)
    counter = first.meter().create_counter("claude_code.token.usage")
    counter.add(100, {"type": "input"})
    first.flush()
    counter.add(50, {"type": "input"})
    first.flush()
    first.flush()  # the same cumulative value again: nothing new
    assert board(app) == {"U0BO": 150}
    # the tool restarts: a new start time is a reset, even with identical attributes
    time.sleep(0.01)
    second = Sdk(app, claude_resource(**{"user.email": "bo@example.com"}), delta=False)
    sdks.append(second)
    second.meter().create_counter("claude_code.token.usage").add(30, {"type": "input"})
    second.flush()
    assert board(app) == {"U0BO": 180}


def encoded(values: list[int], delta: bool, resource: dict[str, str]) -> list[bytes]:
    """Protobuf export bodies, one per value, as the SDK encodes them."""
    reader = InMemoryMetricReader(preferred_temporality=DELTA if delta else None)
    provider = MeterProvider(resource=Resource.create(resource), metric_readers=[reader])
    counter = provider.get_meter(CLAUDE).create_counter("claude_code.token.usage")
    bodies = []
    for value in values:
        counter.add(value, {"type": "output"})
        bodies.append(encode_metrics(reader.get_metrics_data()).SerializeToString())
    provider.shutdown()
    return bodies


@pytest.mark.slow
@pytest.mark.parametrize("delta", [True, False], ids=["delta", "cumulative"])
def test_a_retried_or_replayed_export_adds_nothing(app: App, delta: bool) -> None:
    bodies = encoded([10, 20, 40], delta, claude_resource(**{"enduser.id": "cy@example.com"}))
    app.stub.add_user("U0CY", real_name="Cy", email="cy@example.com")
    for body in bodies + bodies + bodies[:1]:  # retries, then the whole series replayed
        answer = post(app, "/v1/metrics", body, PROTO)
        assert answer.status == 200 and partial(answer) == (0, "")
    assert board(app) == {"U0CY": 70}


@pytest.mark.slow
def test_retry_after_a_redis_outage_counts_once(outage: Outage) -> None:
    app = outage.app
    app.stub.add_user("U0DI", real_name="Di", email="di@example.com")
    body = encoded([5], True, claude_resource(**{"user.email": "di@example.com"}))[0]
    outage.redis.stop()
    answer = post(app, "/v1/metrics", body, PROTO)
    assert answer.status == 503 and answer.headers.get("Retry-After")
    outage.redis.start()
    for _ in range(2):
        assert post(app, "/v1/metrics", body, PROTO).status == 200
    assert board(app) == {"U0DI": 5}


@pytest.mark.slow
def test_gemini_cli_and_genai_histograms(app: App, sdks: list[Sdk]) -> None:
    gemini = Sdk(app, {"service.name": "gemini-cli", "user.email": "gil@example.com"},
                 delta=True)
    genai = Sdk(app, {"service.name": "support-bot", "enduser.id": "gil@example.com"},
                delta=False)
    sdks += [gemini, genai]
    app.stub.add_user("U0GIL", real_name="Gil", email="gil@example.com")
    tokens = gemini.meter("gemini-cli").create_counter("gemini_cli.token.usage")
    for kind, amount in {"input": 500, "output": 70, "thought": 30, "cache": 200,
                         "tool": 5}.items():
        tokens.add(amount, {"type": kind, "model": "gemini-x"})
    gemini.meter("gemini-cli").create_counter("gemini_cli.api.request.count").add(4)
    histogram = genai.meter("openai").create_histogram("gen_ai.client.token.usage",
                                                       unit="{token}")
    for kind, amount in (("input", 120), ("input", 80), ("output", 33)):
        histogram.record(amount, {"gen_ai.token.type": kind,
                                  "gen_ai.request.model": "gpt-x"})
    gemini.flush()
    genai.flush()
    assert board(app) == {"U0GIL": 805 + 233}
    assert board(app, "requests", scope=3) == {"U0GIL": 4}


@pytest.mark.slow
def test_token_types_setting_decides_the_tokens_figure(app: App) -> None:
    config = BoardConfig(token_types=["input", "output"])
    app.deps.store.configs.save(config, by="test")
    app.stub.add_user("U0EVE", real_name="Eve", email="eve@example.com")
    reader = InMemoryMetricReader(preferred_temporality=DELTA)
    provider = MeterProvider(resource=Resource.create(claude_resource(
        **{"user.email": "eve@example.com"})), metric_readers=[reader])
    counter = provider.get_meter(CLAUDE).create_counter("claude_code.token.usage")
    for kind, amount in {"input": 10, "output": 20, "cacheRead": 4000,
                         "cacheCreation": 300}.items():
        counter.add(amount, {"type": kind})
    body = encode_metrics(reader.get_metrics_data()).SerializeToString()
    assert post(app, "/v1/metrics", body, PROTO).status == 200
    assert board(app) == {"U0EVE": 30}
    day = app.deps.store.reads.day_counts(local_date(today(), UTC), "U0EVE")
    assert day["cache_read_tokens"] == 4000  # kept, just not in the figure


@pytest.mark.slow
def test_unmapped_identities_are_kept_named_and_credited_on_link(app: App) -> None:
    bodies = encoded([1000], True, claude_resource(**{"user.email": "nobody@corp.com"}))
    bodies += encoded([250], True, claude_resource(**{"user.account_uuid": "acc-77"}))
    messages = []
    for body in bodies:
        answer = post(app, "/v1/metrics", body, PROTO)
        assert answer.status == 200
        rejected, message = partial(answer)
        assert rejected == 0
        messages.append(message)
    assert "email:nobody@corp.com" in messages[0] and "otel:acc-77" in messages[1]
    assert board(app) == {}
    rows, total = app.deps.identities.unmapped()
    assert total == 2 and {(r.identity, r.tokens) for r in rows} == {
        ("email:nobody@corp.com", 1000), ("otel:acc-77", 250)}
    app.deps.identities.link("U0NEW", "email:nobody@corp.com")
    app.deps.identities.link("U0NEW", "otel:acc-77")
    assert board(app) == {"U0NEW": 1250} and board(app, scope=3) == {"U0NEW": 1250}


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


@pytest.mark.slow
@pytest.mark.parametrize("delta", [True, False], ids=["delta", "cumulative"])
def test_exactly_once_across_a_restart_of_tokenboard(app: App, settings, redis_client,
                                                     delta: bool) -> None:
    from bot.runtime.app import build_deps

    app.stub.add_user("U0IVY", real_name="Ivy", email="ivy@example.com")
    bodies = encoded([3, 4], delta, claude_resource(**{"user.email": "ivy@example.com"}))
    assert post(app, "/v1/metrics", bodies[0], PROTO).status == 200
    app.stop()  # tokenboard restarts: a new process, the same Redis
    restarted = App(build_deps(settings, redis_client), app.stub)
    try:
        for body in bodies:  # the exporter retries the first export, then sends the next
            assert post(restarted, "/v1/metrics", body, PROTO).status == 200
        assert board(restarted) == {"U0IVY": 7}
    finally:
        restarted.stop()


