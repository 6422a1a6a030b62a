"""bot/sources/otlp: metrics → points: each counted metric in both temporalities,
gen_ai.client.token.usage, and the points refused with a reason. Pure: no Redis.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from opentelemetry.proto.metrics.v1 import metrics_pb2

from bot.sources.otlp import (
    Decoded,
    decode_metrics,
)
from tests.support.otlp_requests import (
    CLAUDE_ID,
    CUMULATIVE,
    DELTA,
    T0,
    T1,
    by_key,
    kvs,
    metrics_request,
    number_point,
    sum_metric,
)


def histogram_metric(name: str, sums: list[tuple[float, dict[str, Any]]],
                     temporality: int = DELTA) -> metrics_pb2.Metric:
    points = [metrics_pb2.HistogramDataPoint(
        attributes=kvs(attrs), start_time_unix_nano=T0, time_unix_nano=T1, count=3, sum=total,
        bucket_counts=[1, 2], explicit_bounds=[10.0]) for total, attrs in sums]
    return metrics_pb2.Metric(name=name, histogram=metrics_pb2.Histogram(
        data_points=points, aggregation_temporality=temporality))


# ---------------------------------------------------------------------------------------
# each counted metric, both temporalities

CASES = [
    # metric, point attributes, value, quantity, token_type, tool
    ("claude_code.token.usage", {"type": "input", "model": "claude-sonnet-4-6"}, 1200,
     "tokens", "input", "claude_code"),
    ("claude_code.token.usage", {"type": "output", "model": "claude-sonnet-4-6"}, 340.0,
     "tokens", "output", "claude_code"),
    ("claude_code.token.usage", {"type": "cacheRead", "model": "claude-sonnet-4-6"}, 5000.0,
     "tokens", "cache_read", "claude_code"),
    ("claude_code.token.usage", {"type": "cacheCreation", "model": "claude-sonnet-4-6"}, 70.0,
     "tokens", "cache_creation", "claude_code"),
    ("claude_code.cost.usage", {"model": "claude-sonnet-4-6"}, 0.0375, "cost", None,
     "claude_code"),
    ("claude_code.session.count", {"start_type": "fresh"}, 1.0, "sessions", None,
     "claude_code"),
    ("claude_code.commit.count", {}, 2.0, "activity:commits", None, "claude_code"),
    ("claude_code.pull_request.count", {}, 1, "activity:pull_requests", None, "claude_code"),
    ("claude_code.lines_of_code.count", {"type": "added", "model": "m"}, 120.0,
     "activity:lines_added", None, "claude_code"),
    ("claude_code.lines_of_code.count", {"type": "removed", "model": "m"}, 30.0,
     "activity:lines_removed", None, "claude_code"),
    ("gemini_cli.token.usage", {"type": "input", "model": "gemini-2.5-pro"}, 900, "tokens",
     "input", "gemini_cli"),
    ("gemini_cli.token.usage", {"type": "output", "model": "gemini-2.5-pro"}, 80, "tokens",
     "output", "gemini_cli"),
    ("gemini_cli.token.usage", {"type": "thought", "model": "gemini-2.5-pro"}, 60, "tokens",
     "thought", "gemini_cli"),
    ("gemini_cli.token.usage", {"type": "cache", "model": "gemini-2.5-pro"}, 400, "tokens",
     "cache", "gemini_cli"),
    ("gemini_cli.token.usage", {"type": "tool", "model": "gemini-2.5-pro"}, 7, "tokens",
     "tool", "gemini_cli"),
    ("gemini_cli.api.request.count", {"model": "gemini-2.5-pro", "status_code": 200}, 3,
     "requests", None, "gemini_cli"),
]


@pytest.mark.parametrize("temporality", [DELTA, CUMULATIVE])
@pytest.mark.parametrize(("name", "attrs", "value", "quantity", "token_type", "tool"), CASES)
def test_each_counted_metric(name: str, attrs: dict[str, Any], value: float, quantity: str,
                             token_type: str | None, tool: str, temporality: int) -> None:
    attrs = {**CLAUDE_ID, **attrs}
    body = metrics_request([sum_metric(name, [number_point(value, attrs)], temporality)],
                           resource={"service.name": "whatever", "host.arch": "arm64"})
    decoded = decode_metrics(body, False)
    assert decoded.rejected == 0 and decoded.reasons == []
    [point] = decoded.points
    assert point.tool == tool
    assert (point.quantity, point.token_type) == (quantity, token_type)
    assert point.value == float(value) and isinstance(point.value, float)
    assert point.cumulative is (temporality == CUMULATIVE)
    assert (point.start_ns, point.time_ns) == (T0, T1)
    assert point.model == attrs.get("model")
    expected = {k: v for k, v in attrs.items() if k in CLAUDE_ID or k == "model"}
    assert point.attributes == expected
    assert point.event_id is None
    assert len(point.series) == 32 and int(point.series, 16) >= 0


def test_one_request_many_metrics_and_unrelated_ones_ignored() -> None:
    body = metrics_request([
        sum_metric("claude_code.token.usage", [
            number_point(100.0, {**CLAUDE_ID, "type": "input", "model": "a"}),
            number_point(20.0, {**CLAUDE_ID, "type": "output", "model": "a"})]),
        sum_metric("claude_code.active_time.total", [number_point(3.5, CLAUDE_ID)]),
        metrics_pb2.Metric(name="process.cpu.usage", gauge=metrics_pb2.Gauge(
            data_points=[number_point(0.3, {})])),
        sum_metric("http.server.active_requests", [number_point(2, {})], monotonic=False),
        sum_metric("claude_code.cost.usage", [number_point(0.01, {**CLAUDE_ID, "model": "a"})]),
    ])
    decoded = decode_metrics(body, False)
    assert [(p.quantity, p.token_type, p.value) for p in decoded.points] == [
        ("tokens", "input", 100.0), ("tokens", "output", 20.0), ("cost", None, 0.01)]
    assert (decoded.rejected, decoded.reasons) == (0, [])


# ---------------------------------------------------------------------------------------
# gen_ai.client.token.usage


def test_genai_histogram_sums_by_token_type_tool_from_service_name() -> None:
    metric = histogram_metric("gen_ai.client.token.usage", [
        (1530.0, {"gen_ai.token.type": "input", "gen_ai.request.model": "gpt-4o",
                  "gen_ai.response.model": "gpt-4o-2024-08-06", "gen_ai.operation.name": "chat"}),
        (212.0, {"gen_ai.token.type": "output", "gen_ai.request.model": "gpt-4o"}),
    ], CUMULATIVE)
    body = metrics_request([metric], resource={"service.name": "support-bot",
                                               "enduser.id": "ana@example.com"}, scope="openai")
    decoded = decode_metrics(body, False)
    points = by_key(decoded.points)
    assert points["tokens", "input"].value == 1530.0
    assert points["tokens", "input"].model == "gpt-4o-2024-08-06"  # response over request
    assert points["tokens", "output"].value == 212.0
    assert points["tokens", "output"].model == "gpt-4o"
    assert {p.tool for p in decoded.points} == {"support-bot"}
    assert {p.cumulative for p in decoded.points} == {True}
    assert points["tokens", "input"].attributes == {"enduser.id": "ana@example.com"}


@pytest.mark.parametrize("resource", [{}, {"service.name": ""},
                                      {"service.name": "unknown_service:python"}])
def test_genai_without_a_service_name_is_tool_genai(resource: dict[str, Any]) -> None:
    body = metrics_request([histogram_metric("gen_ai.client.token.usage",
                                             [(5.0, {"gen_ai.token.type": "input"})])], resource)
    [point] = decode_metrics(body, False).points
    assert (point.tool, point.value, point.model) == ("genai", 5.0, None)


def test_genai_as_an_exponential_histogram_or_a_counter() -> None:
    exp = metrics_pb2.Metric(name="gen_ai.client.token.usage",
                             exponential_histogram=metrics_pb2.ExponentialHistogram(
                                 aggregation_temporality=DELTA, data_points=[
                                     metrics_pb2.ExponentialHistogramDataPoint(
                                         attributes=kvs({"gen_ai.token.type": "output"}),
                                         time_unix_nano=T1, count=2, sum=77.0)]))
    counter = sum_metric("gen_ai.client.token.usage",
                         [number_point(8, {"gen_ai.token.type": "input"})])
    decoded = decode_metrics(metrics_request([exp, counter], {"service.name": "x"}), False)
    assert [(p.token_type, p.value) for p in decoded.points] == [("output", 77.0),
                                                                  ("input", 8.0)]


def test_genai_copies_from_tools_with_their_own_token_metric_are_not_counted_twice() -> None:
    genai = histogram_metric("gen_ai.client.token.usage",
                             [(900.0, {"gen_ai.token.type": "input"})])
    own = sum_metric("gemini_cli.token.usage", [number_point(900, {"type": "input"})])
    by_service = decode_metrics(metrics_request([genai], {"service.name": "gemini-cli"}), False)
    assert by_service == Decoded([], 0, [])
    both = decode_metrics(metrics_request([own, genai], {"service.name": "my-fork"}), False)
    assert [(p.tool, p.value) for p in both.points] == [("gemini_cli", 900.0)]


def test_histogram_point_without_sum() -> None:
    metric = metrics_pb2.Metric(name="gen_ai.client.token.usage", histogram=metrics_pb2.Histogram(
        aggregation_temporality=DELTA, data_points=[
            metrics_pb2.HistogramDataPoint(attributes=kvs({"gen_ai.token.type": "input"}),
                                           time_unix_nano=T1, count=4),
            metrics_pb2.HistogramDataPoint(attributes=kvs({"gen_ai.token.type": "output"}),
                                           time_unix_nano=T1, count=0)]))
    decoded = decode_metrics(metrics_request([metric], {"service.name": "s"}), False)
    assert [(p.token_type, p.value) for p in decoded.points] == [("output", 0.0)]
    assert decoded.rejected == 1
    assert decoded.reasons == ["gen_ai.client.token.usage: histogram point has no sum"]


# ---------------------------------------------------------------------------------------
# refused with a reason


def test_gauge_non_monotonic_and_unspecified_temporality_are_refused_per_point() -> None:
    two = [number_point(1.0, {"type": "input"}), number_point(2.0, {"type": "output"})]
    body = metrics_request([
        metrics_pb2.Metric(name="claude_code.token.usage",
                           gauge=metrics_pb2.Gauge(data_points=two)),
        sum_metric("claude_code.cost.usage", two + two[:1], monotonic=False),
        sum_metric("claude_code.session.count", two, temporality=0),
        sum_metric("claude_code.commit.count", two, temporality=7),
        metrics_pb2.Metric(name="claude_code.pull_request.count",
                           summary=metrics_pb2.Summary(data_points=[
                               metrics_pb2.SummaryDataPoint(time_unix_nano=T1, count=1, sum=1)])),
    ])
    decoded = decode_metrics(body, False)
    assert decoded.points == []
    assert decoded.rejected == 2 + 3 + 2 + 2 + 1
    assert decoded.reasons == [
        "claude_code.token.usage: gauge points are not counted (only monotonic sums and "
        "histograms)",
        "claude_code.cost.usage: non-monotonic sums are not counted (only monotonic sums and "
        "histograms)",
        "claude_code.session.count: aggregation temporality 0 is neither delta (1) nor "
        "cumulative (2)",
        "claude_code.commit.count: aggregation temporality 7 is neither delta (1) nor "
        "cumulative (2)",
        "claude_code.pull_request.count: summary points are not counted (only monotonic sums "
        "and histograms)",
    ]


def test_bad_values_and_types_are_refused_and_the_rest_counted() -> None:
    body = metrics_request([
        sum_metric("claude_code.cost.usage", [
            number_point(math.nan, {}), number_point(-0.5, {}), number_point(math.inf, {}),
            number_point(0.25, {}), number_point(-0.0, {}), number_point(0.0, {}, time_ns=0),
            metrics_pb2.NumberDataPoint(time_unix_nano=T1)]),
        sum_metric("claude_code.token.usage", [
            number_point(10, {"type": "reasoning"}), number_point(10, {}),
            number_point(10, {"type": "input"})]),
        sum_metric("claude_code.lines_of_code.count", [number_point(4, {"type": "moved"})]),
    ])
    decoded = decode_metrics(body, False)
    assert [(p.quantity, p.token_type, p.value) for p in decoded.points] == [
        ("cost", None, 0.25), ("cost", None, 0.0), ("tokens", "input", 10.0)]
    assert math.copysign(1.0, decoded.points[1].value) == 1.0  # -0.0 normalised
    assert decoded.rejected == 8
    assert decoded.reasons == [
        "claude_code.cost.usage: NaN values are not counted",
        "claude_code.cost.usage: negative values are not counted (-0.5)",
        "claude_code.cost.usage: infinite values are not counted",
        "claude_code.cost.usage: data point has no timeUnixNano",
        "claude_code.cost.usage: data point has no value",
        "claude_code.token.usage: unknown type 'reasoning' (known: input, output, cacheRead, "
        "cacheCreation)",
        "claude_code.token.usage: data point has no 'type' attribute",
        "claude_code.lines_of_code.count: unknown type 'moved' (known: added, removed)",
    ]
    assert decoded.message().startswith("claude_code.cost.usage: NaN values are not counted; ")


def test_no_recorded_value_points_are_skipped_silently() -> None:
    stale = number_point(5.0, {})
    stale.flags = metrics_pb2.DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK
    decoded = decode_metrics(metrics_request(
        [sum_metric("claude_code.cost.usage", [stale, number_point(1.5, {})])]), False)
    assert [p.value for p in decoded.points] == [1.5] and decoded.rejected == 0


def test_reasons_are_distinct_and_capped() -> None:
    points = [number_point(float(-i - 1), {}) for i in range(30)]
    decoded = decode_metrics(metrics_request([sum_metric("claude_code.cost.usage", points)]),
                             False)
    assert decoded.rejected == 30
    assert len(decoded.reasons) == 20
    nan = decode_metrics(metrics_request([sum_metric("claude_code.cost.usage",
                                                     [number_point(math.nan, {})] * 5)]), False)
    assert (nan.rejected, nan.reasons) == (5, ["claude_code.cost.usage: NaN values are not "
                                               "counted"])
