"""OTLP metrics → `Point`s: which metrics count (Claude Code's, Gemini CLI's, Codex's,
Cursor's and the gen_ai.* semantic conventions, which GitHub Copilot sends), their
temporality, token types and series."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.metrics.v1 import metrics_pb2

from bot.sources.otlp.attributes import (
    Reject,
    by_key,
    canonical,
    checked_value,
    digest_head,
    digest_more,
    digest_with_text,
    identity_attrs,
    identity_texts,
    read_point,
    str_attr,
)
from bot.sources.otlp.model import Decoded, Point
from bot.sources.otlp.parse import parse_metrics_request

_DELTA = metrics_pb2.AGGREGATION_TEMPORALITY_DELTA
_CUMULATIVE = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
_NO_RECORDED_VALUE = metrics_pb2.DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK

_CLAUDE_TOKENS = {"input": "input", "output": "output", "cacheRead": "cache_read",
                  "cacheCreation": "cache_creation"}
_GEMINI_TOKENS = {t: t for t in ("input", "output", "thought", "cache", "tool")}
_GENAI_TOKENS = {"input": "input", "output": "output"}
# Codex: cached_input is part of input and reasoning_output part of output (kept apart, never
# added to "tokens"); total is input + output, so it is not counted again.
_CODEX_TOKENS = {"input": "input", "output": "output", "cached_input": "cached_input",
                 "reasoning_output": "reasoning_output"}
_CURSOR_TOKENS = {t: t for t in ("input", "output", "cache_read", "cache_creation")}
_LINES = {"added": "activity:lines_added", "removed": "activity:lines_removed"}


@dataclass(frozen=True)
class _Rule:
    tool: str | None  # None: the resource's service.name
    quantity: str  # "tokens" splits by `type_key` into token_type; others map to a quantity
    type_key: str | None = None
    types: Mapping[str, str] | None = None
    ignored: frozenset[str] = frozenset()  # values of `type_key` skipped without a word
    scale: float = 1.0  # what one unit of the metric is in the quantity's unit


GENAI_TOKEN_USAGE = "gen_ai.client.token.usage"
METRICS: dict[str, _Rule] = {
    "claude_code.token.usage": _Rule("claude_code", "tokens", "type", _CLAUDE_TOKENS),
    "claude_code.cost.usage": _Rule("claude_code", "cost"),
    "claude_code.session.count": _Rule("claude_code", "sessions"),
    "claude_code.commit.count": _Rule("claude_code", "activity:commits"),
    "claude_code.pull_request.count": _Rule("claude_code", "activity:pull_requests"),
    "claude_code.lines_of_code.count": _Rule("claude_code", "activity:lines", "type", _LINES),
    "gemini_cli.token.usage": _Rule("gemini_cli", "tokens", "type", _GEMINI_TOKENS),
    "gemini_cli.api.request.count": _Rule("gemini_cli", "requests"),
    "codex.turn.token_usage": _Rule("codex", "tokens", "token_type", _CODEX_TOKENS,
                                    ignored=frozenset({"total"})),
    "codex.turn.cost_microusd": _Rule("codex", "cost", scale=1e-6),
    "cursor.token.usage": _Rule("cursor", "tokens", "cursor.token.type", _CURSOR_TOKENS),
    "cursor.cost.usage": _Rule("cursor", "cost"),
    GENAI_TOKEN_USAGE: _Rule(None, "tokens", "gen_ai.token.type", _GENAI_TOKENS),
}
# These tools export gen_ai.client.token.usage next to their own token metric: counting
# both would count their tokens twice, so their gen_ai.* copy is ignored.
_OWN_TOKEN_METRICS = ("claude_code.token.usage", "gemini_cli.token.usage",
                      "codex.turn.token_usage", "cursor.token.usage")
_OWN_SERVICE_NAMES = ("claude-code", "gemini-cli", "cursor")
# gen_ai.* metrics name their tool by service.name; these services are one tool (GitHub
# Copilot Chat in VS Code, and the Copilot CLI), the one GitHub's Copilot metrics report.
SERVICE_TOOLS = {"copilot-chat": "copilot", "github-copilot": "copilot"}
GENAI_FALLBACK_TOOL = "genai"


def decode_metrics(raw: bytes, is_json: bool) -> Decoded:
    """The countable points of an ExportMetricsServiceRequest (see docs/otlp.md)."""
    request = parse_metrics_request(raw, is_json)
    out = Decoded()
    for rm in request.resource_metrics:
        res = by_key(rm.resource.attributes)
        res_canon = canonical(res)
        service = str_attr(res, "service.name") or ""
        names = {m.name for sm in rm.scope_metrics for m in sm.metrics}
        skip_genai = service in _OWN_SERVICE_NAMES or any(n in names for n in _OWN_TOKEN_METRICS)
        for sm in rm.scope_metrics:
            # What every point of the scope shares, once: its series digests' head and
            # the identity attributes of its resource and scope (a point's own ones win).
            scope = by_key(sm.scope.attributes)
            head = digest_head("metric", res_canon, sm.scope.name)
            shared: dict[str, str] | None = None
            for metric in sm.metrics:
                rule = METRICS.get(metric.name)
                if rule is None or (metric.name == GENAI_TOKEN_USAGE and skip_genai):
                    continue
                tool = rule.tool or _service_tool(service)
                if shared is None:
                    shared = identity_attrs(res, scope)
                _metric_points(metric, rule, tool, shared, head, out)
    return out


def _service_tool(service: str) -> str:
    if not service or service.startswith("unknown_service"):
        return GENAI_FALLBACK_TOOL
    return SERVICE_TOOLS.get(service, service)


def _metric_points(metric: metrics_pb2.Metric, rule: _Rule, tool: str,
                   shared: dict[str, str], scope_head: str, out: Decoded) -> None:
    """`shared`: the identity attributes of the resource and scope; `scope_head`: the
    head of the series digests of the scope's points (`digest_head`)."""
    name = metric.name
    kind = metric.WhichOneof("data")
    data: Any
    if kind == "sum":
        data = metric.sum
        if not data.is_monotonic and data.data_points:
            out.reject(f"{name}: non-monotonic sums are not counted (only monotonic sums "
                       "and histograms)", len(data.data_points))
            return
    elif kind in ("histogram", "exponential_histogram"):
        data = getattr(metric, kind)
    elif kind is None:
        return  # no data at all: nothing to count or refuse
    else:  # gauge, summary
        if not getattr(metric, kind).data_points:
            return
        out.reject(f"{name}: {kind} points are not counted (only monotonic sums and "
                   "histograms)", len(getattr(metric, kind).data_points))
        return
    if not data.data_points:
        return
    temporality = data.aggregation_temporality
    if temporality not in (_DELTA, _CUMULATIVE):
        out.reject(f"{name}: aggregation temporality {temporality} is neither delta (1) nor "
                   "cumulative (2)", len(data.data_points))
        return
    head = digest_more(scope_head, name)
    for dp in data.data_points:
        if dp.flags & _NO_RECORDED_VALUE:
            continue  # a staleness marker, not a value
        try:
            value = _point_value(dp, kind)
            if dp.time_unix_nano == 0:
                raise Reject("data point has no timeUnixNano")
            canon, texts = read_point(dp.attributes)
            classified = _classify(rule, texts)
        except Reject as exc:
            out.reject(f"{name}: {exc}")
            continue
        if classified is None:
            continue  # a type the rule leaves out (Codex's total)
        quantity, token_type = classified
        if rule.tool is None:  # gen_ai.*: model from the semantic-convention attributes
            model = texts.get("gen_ai.response.model") or texts.get("gen_ai.request.model")
        else:
            model = texts.get("model")
        out.points.append(Point(
            tool=tool, quantity=quantity, token_type=token_type, value=value * rule.scale,
            cumulative=temporality == _CUMULATIVE, start_ns=dp.start_time_unix_nano,
            time_ns=dp.time_unix_nano, attributes={**shared, **identity_texts(texts)},
            model=model or None, series=digest_with_text(head, canon),
            event_id=None))


def _point_value(dp: Any, kind: str) -> float:
    if kind == "sum":
        which = dp.WhichOneof("value")
        if which is None:
            raise Reject("data point has no value")
        value = float(dp.as_double if which == "as_double" else dp.as_int)
    elif dp.HasField("sum"):
        value = dp.sum
    elif dp.count == 0:
        value = 0.0
    else:
        raise Reject("histogram point has no sum")
    return checked_value(value)


def _classify(rule: _Rule, texts: Mapping[str, str | None]) -> tuple[str, str | None] | None:
    """`texts`: the point's attributes as text (`read_point`)."""
    if rule.type_key is None or rule.types is None:
        return rule.quantity, None
    raw = texts.get(rule.type_key)
    if raw is None:
        raise Reject(f"data point has no {rule.type_key!r} attribute")
    if raw in rule.ignored:
        return None
    mapped = rule.types.get(raw)
    if mapped is None:
        raise Reject(f"unknown {rule.type_key} {raw!r} (known: {', '.join(rule.types)})")
    if rule.quantity == "tokens":
        return "tokens", mapped
    return mapped, None
