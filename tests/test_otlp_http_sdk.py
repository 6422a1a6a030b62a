"""OTLP/HTTP end to end, from the real OpenTelemetry SDK and its OTLP/HTTP exporter against
the real server: exact totals on the boards for Claude Code, Gemini CLI and gen_ai
histograms, both temporalities, exactly once across retries, replays, a Redis outage and a
restart of tokenboard; the tokens figure as configured; unmapped identities credited on
link.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC

import pytest
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    InMemoryMetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource

from bot.core.config import BoardConfig
from bot.core.periods import local_date
from tests.conftest import App, Outage
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
