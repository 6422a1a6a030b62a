"""bot/sources/otlp: who a point is for (resource, scope and point attributes merged), its
series, and the digest of its attributes. Pure: no Redis.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.resource.v1 import resource_pb2

from bot.sources.otlp import (
    decode_metrics,
)
from tests.support.otlp_requests import (
    T0,
    T1,
    kvs,
    metrics_request,
    number_point,
    sum_metric,
)

# ---------------------------------------------------------------------------------------
# identity attributes and series


def test_identity_merge_resource_then_scope_then_point() -> None:
    request = metrics_service_pb2.ExportMetricsServiceRequest(resource_metrics=[
        metrics_pb2.ResourceMetrics(
            resource=resource_pb2.Resource(attributes=kvs({
                "user.email": "from-resource@example.com", "enduser.id": "ana",
                "organization.id": "org-res", "service.name": "claude-code", "team": "x"})),
            scope_metrics=[metrics_pb2.ScopeMetrics(
                scope=common_pb2.InstrumentationScope(
                    name="s", attributes=kvs({"organization.id": "org-scope"})),
                metrics=[sum_metric("claude_code.cost.usage", [number_point(1.0, {
                    "user.email": "from-point@example.com", "session.id": "s1",
                    "terminal.type": "vscode", "user.account_id": "user_01"})])])])])
    [point] = decode_metrics(request.SerializeToString(), False).points
    assert point.attributes == {"user.email": "from-point@example.com", "enduser.id": "ana",
                                "organization.id": "org-scope", "session.id": "s1",
                                "user.account_id": "user_01"}


def test_series_is_stable_across_values_and_times_but_not_attributes() -> None:
    def series(value: float, attrs: dict[str, Any], start: int = T0, time_ns: int = T1,
               resource: dict[str, Any] | None = None, scope: str = "sc",
               name: str = "claude_code.cost.usage") -> str:
        body = metrics_request([sum_metric(name, [number_point(value, attrs, start, time_ns)])],
                               resource or {"service.name": "claude-code"}, scope)
        return decode_metrics(body, False).points[0].series

    base = series(1.0, {"a": "1", "b": "2"})
    assert series(9.0, {"b": "2", "a": "1"}, start=T1, time_ns=T1 + 1) == base
    assert series(1.0, {"a": "1", "b": "3"}) != base
    assert series(1.0, {"a": 1, "b": "2"}) != base  # int 1 is not string "1"
    assert series(1.0, {"a": "1", "b": "2"}, resource={"service.name": "other"}) != base
    assert series(1.0, {"a": "1", "b": "2"}, scope="other") != base
    assert series(1.0, {"a": "1", "b": "2"}, name="claude_code.commit.count") != base


def test_a_digest_written_from_its_head_is_the_same_digest() -> None:
    from bot.sources.otlp.attributes import digest, digest_head, digest_more, digest_with_text

    res = [["service.name", ["s", "claude-code"]], ["x", ["d", "1.5"]]]
    point = [["model", ["s", "opus é"]], ["type", ["s", "input"]], ["bad", ["s", "\ud800"]]]
    text = json.dumps(point, separators=(",", ":"), ensure_ascii=False)
    head = digest_more(digest_head("metric", res, "scope"), "claude_code.token.usage")
    assert digest_with_text(head, text) == digest("metric", res, "scope",
                                                  "claude_code.token.usage", point)
    assert digest_with_text(digest_head(), "1") == digest(1)


_SCALARS = st.one_of(
    st.builds(lambda v: common_pb2.AnyValue(string_value=v), st.text()),
    st.builds(lambda v: common_pb2.AnyValue(bool_value=v), st.booleans()),
    st.builds(lambda v: common_pb2.AnyValue(int_value=v), st.integers(-2**63, 2**63 - 1)),
    st.builds(lambda v: common_pb2.AnyValue(double_value=v), st.floats()),
    st.builds(lambda v: common_pb2.AnyValue(bytes_value=v), st.binary(max_size=8)),
    st.just(common_pb2.AnyValue()))
_VALUES = st.one_of(_SCALARS, st.builds(
    lambda vs: common_pb2.AnyValue(array_value=common_pb2.ArrayValue(values=vs)),
    st.lists(_SCALARS, max_size=3)), st.builds(
    lambda kvs: common_pb2.AnyValue(kvlist_value=common_pb2.KeyValueList(values=[
        common_pb2.KeyValue(key=k, value=v) for k, v in kvs])),
    st.lists(st.tuples(st.text(max_size=5), _SCALARS), max_size=3)))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=12), _VALUES), max_size=8))
def test_a_points_attributes_are_read_as_the_canonical_json_a_digest_takes(pairs) -> None:
    from bot.sources.otlp.attributes import as_text, by_key, canonical, read_point

    point = [common_pb2.KeyValue(key=k, value=v) for k, v in pairs]
    text, texts = read_point(point)
    # the digests of every stored series depend on this text: it must be json.dumps's
    assert text == json.dumps(canonical(by_key(point)), separators=(",", ":"),
                              ensure_ascii=False)
    assert texts == {k: as_text(v) for k, v in by_key(point).items()}


def test_a_points_attributes_and_series_digest_are_pinned_to_what_is_stored() -> None:
    """Stored series are keyed by these digests: the text and the digest of one set of
    attributes of every kind, written out by hand (a repeated key: the last one wins;
    keys sorted; each value type-tagged), must never change."""
    from bot.sources.otlp.attributes import digest, digest_head, digest_with_text, read_point

    point = [
        common_pb2.KeyValue(key="z", value=common_pb2.AnyValue(string_value="é")),
        common_pb2.KeyValue(key="b", value=common_pb2.AnyValue(int_value=1)),
        common_pb2.KeyValue(key="a", value=common_pb2.AnyValue(string_value="x")),
        common_pb2.KeyValue(key="a", value=common_pb2.AnyValue(bool_value=True)),
        common_pb2.KeyValue(key="d", value=common_pb2.AnyValue(double_value=0.5)),
        common_pb2.KeyValue(key="h", value=common_pb2.AnyValue(bytes_value=b"\x01\xff")),
        common_pb2.KeyValue(key="l", value=common_pb2.AnyValue(array_value=common_pb2.ArrayValue(
            values=[common_pb2.AnyValue(int_value=2), common_pb2.AnyValue()]))),
    ]
    text, _ = read_point(point)
    assert text == ('[["a",["b",true]],["b",["i","1"]],["d",["d","0.5"]],["h",["x","01ff"]],'
                    '["l",["a",[["i","2"],["n"]]]],["z",["s","é"]]]')
    whole = f'["res","metric",{text}]'
    expected = hashlib.blake2b(whole.encode(), digest_size=16).hexdigest()
    assert digest_with_text(digest_head("res", "metric"), text) == expected
    assert digest("res", "metric", json.loads(text)) == expected
