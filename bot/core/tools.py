"""Where a person's usage went: the day fields that keep tokens and cost per tool and
tokens per model, named one way for every source (OTLP points, /ingest reports, the
vendors' daily rows), and what those fields say when read back.

Fields (every one a plain integer, so the store adds them as it adds tokens):

- `t:<tool>`: the tokens of that tool that count toward the board's `tokens`;
- `c:<tool>`: that tool's cost, in ten-thousandths of a dollar (`COST_UNIT` per USD);
- `m:<model>`: the tokens of that model. A person's day keeps at most `MAX_MODELS`
  models; the store adds the tokens of any further model to `m:other`
  (bot/store/lua/common/event.lua).

The tools most seen have a two-letter code (`TOOL_CODES`); any other tool or model name
is lower-cased, stripped of what the day packing cannot hold, and cut to `MAX_NAME`
characters. Each field costs bytes in every person-day kept, so names stay short. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

TOOL_FIELD, COST_FIELD, MODEL_FIELD = "t:", "c:", "m:"
COST_UNIT = 10_000  # c:<tool> counts ten-thousandths of a dollar
MAX_NAME = 16       # characters of a tool or model name kept
MAX_MODELS = 3      # distinct models kept per person-day (the rest: m:other)
OTHER = "other"

TOOL_CODES = {"claude_code": "cc", "cursor": "cu", "copilot": "cp", "codex": "cx",
              "gemini_cli": "gc", "openai": "oa"}
_TOOL_OF_CODE = {code: tool for tool, code in TOOL_CODES.items()}
TOOL_NAMES = {"claude_code": "Claude Code", "gemini_cli": "Gemini CLI", "codex": "Codex",
              "cursor": "Cursor", "copilot": "Copilot", "openai": "OpenAI"}

# The tools more than one source can report, and those sources (`tool_sources`): the
# tool's OpenTelemetry, its vendor's admin report, and /ingest.
MULTI_SOURCE: dict[str, tuple[str, ...]] = {
    "claude_code": ("otlp", "claude-code", "ingest"),
    "copilot": ("otlp", "copilot", "ingest"),
    "cursor": ("otlp", "cursor", "ingest"),
    "openai": ("otlp", "openai", "ingest"),
}

_NOT_NAME = re.compile(r"[^a-z0-9_.+-]+")
_DATED = re.compile(r"[-@](20\d{6}|\d{4}-\d{2}-\d{2})$")  # a release date suffix
_VENDOR = re.compile(r"^(([a-z]{2}\.)?anthropic\.)?(claude-)?")  # `claude-opus-4` → `opus-4`
_REVISION = re.compile(r"-v\d+(:\d+)?$")  # Bedrock's `-v1:0`
_SPACES = re.compile(r"\s+")
_SEPARATORS = re.compile(r"[\s-]+")
NAMES_KEPT = 4096  # tool and model names remembered per process, each with its key


@lru_cache(maxsize=NAMES_KEPT)
def tool_key(tool: str) -> str:
    """A tool's name as tokenboard keys it: lower case, spaces and hyphens as `_`
    (`Claude Code`, `claude-code` → `claude_code`), at most MAX_NAME characters."""
    text = _SEPARATORS.sub("_", tool.strip().lower())
    text = _NOT_NAME.sub("", text).strip("_")[:MAX_NAME]
    return text or OTHER


@lru_cache(maxsize=NAMES_KEPT)
def tool_code(tool: str) -> str:
    """The short name a tool is kept under in a day field."""
    key = tool_key(tool)
    return TOOL_CODES.get(key, key)


@lru_cache(maxsize=NAMES_KEPT)
def model_key(model: str) -> str:
    """A model's name as kept: lower case, without what every model of its family
    repeats (a provider path `openai/`, `claude-`, Bedrock's `anthropic.` and `-v1:0`, a
    release date `-20250514`), at most MAX_NAME characters: `claude-opus-4-5-20251101`
    → `opus-4-5`."""
    text = model.strip().lower().rsplit("/", 1)[-1]
    text = _REVISION.sub("", _VENDOR.sub("", _SPACES.sub("-", text)))
    text = _DATED.sub("", text)
    text = _NOT_NAME.sub("", text).strip("-")[:MAX_NAME]
    return text or OTHER


def usage_fields(tool: str, tokens: float = 0.0, cost: float = 0.0,
                 model: str | None = None) -> list[tuple[str, float]]:
    """The per-tool (and per-model) fields of `tokens` and `cost` (USD) of `tool`;
    nothing for an amount of 0. Amounts are as given (per unit of a `Usage`'s value)."""
    code = tool_code(tool)
    out: list[tuple[str, float]] = []
    if tokens:
        out.append((TOOL_FIELD + code, tokens))
        if model:
            out.append((MODEL_FIELD + model_key(model), tokens))
    if cost:
        out.append((COST_FIELD + code, float(round(cost * COST_UNIT))))
    return out


def model_fields(tokens_by_model: Mapping[str, float]) -> list[tuple[str, float]]:
    """`m:<model>` fields of a row that reports several models (names merged once
    cut), largest first, at most MAX_MODELS and the rest as `m:other`."""
    merged: dict[str, float] = {}
    for model, tokens in tokens_by_model.items():
        if tokens:
            key = model_key(model)
            merged[key] = merged.get(key, 0.0) + tokens
    ranked = sorted(merged.items(), key=lambda kv: (-kv[1], kv[0]))
    out = [(MODEL_FIELD + name, tokens) for name, tokens in ranked[:MAX_MODELS]]
    rest = sum(tokens for _, tokens in ranked[MAX_MODELS:])
    if rest:
        out.append((MODEL_FIELD + OTHER, rest))
    return out


def capped(fields: Mapping[str, float]) -> list[tuple[str, float]]:
    """Fields with their `m:` ones cut to MAX_MODELS (largest first) and `m:other`: a
    day's row added up from several records of one source keeps no more models than a
    person-day does."""
    models = {name[len(MODEL_FIELD):]: amount for name, amount in fields.items()
              if name.startswith(MODEL_FIELD) and name != MODEL_FIELD + OTHER}
    if len(models) <= MAX_MODELS:
        return list(fields.items())
    ranked = sorted(models.items(), key=lambda kv: (-kv[1], kv[0]))
    rest = sum(a for _, a in ranked[MAX_MODELS:]) + fields.get(MODEL_FIELD + OTHER, 0.0)
    out = [(n, a) for n, a in fields.items() if not n.startswith(MODEL_FIELD)]
    return out + [(MODEL_FIELD + m, a) for m, a in ranked[:MAX_MODELS]] + [
        (MODEL_FIELD + OTHER, rest)]


def tool_of_code(code: str) -> str:
    """The tool a day field's code stands for (`cc` → `claude_code`)."""
    return _TOOL_OF_CODE.get(code, code)


def tool_name(tool: str) -> str:
    """How a tool is shown: `claude_code` → Claude Code; others as sent."""
    return TOOL_NAMES.get(tool, tool)


@dataclass(frozen=True)
class ToolUse:
    tool: str       # tool key (`claude_code`)
    tokens: float
    cost: float     # USD


class ToolTotals:
    """Tokens and cost summed over `tools` (anything with `.tokens` and `.cost`)."""

    tools: Sequence[Any]

    @property
    def tokens(self) -> float:
        return sum(t.tokens for t in self.tools)

    @property
    def cost(self) -> float:
        return sum(t.cost for t in self.tools)


@dataclass(frozen=True)
class UsageSplit(ToolTotals):
    """Where usage went: per tool (most tokens first) and per model."""

    tools: list[ToolUse] = field(default_factory=list)
    models: list[tuple[str, float]] = field(default_factory=list)  # (model, tokens)


def split(counts: Mapping[str, float]) -> UsageSplit:
    """The per-tool and per-model fields of summed day counts (or of the org's per-tool
    totals), ordered by tokens (then cost, then name)."""
    tokens: dict[str, float] = {}
    cost: dict[str, float] = {}
    models: dict[str, float] = {}
    for name, amount in counts.items():
        if name.startswith(TOOL_FIELD):
            tool = tool_of_code(name[len(TOOL_FIELD):])
            tokens[tool] = tokens.get(tool, 0.0) + amount
        elif name.startswith(COST_FIELD):
            tool = tool_of_code(name[len(COST_FIELD):])
            cost[tool] = cost.get(tool, 0.0) + amount / COST_UNIT
        elif name.startswith(MODEL_FIELD):
            model = name[len(MODEL_FIELD):]
            models[model] = models.get(model, 0.0) + amount
    tools = [ToolUse(t, tokens.get(t, 0.0), cost.get(t, 0.0)) for t in {*tokens, *cost}
             if tokens.get(t) or cost.get(t)]
    tools.sort(key=lambda u: (-u.tokens, -u.cost, u.tool))
    ranked = sorted(((m, n) for m, n in models.items() if n),
                    key=lambda kv: (kv[0] == OTHER, -kv[1], kv[0]))
    return UsageSplit(tools=tools, models=ranked)


def shares(values: list[float]) -> list[int]:
    """Whole percentages of `values` that add up to exactly 100 (largest remainders);
    all zeros when the total is 0."""
    total = sum(values)
    if total <= 0:
        return [0] * len(values)
    exact = [v * 100 / total for v in values]
    out = [int(x) for x in exact]
    order = sorted(range(len(values)), key=lambda i: (-(exact[i] - out[i]), i))
    for i in order[:100 - sum(out)]:
        out[i] += 1
    return out
