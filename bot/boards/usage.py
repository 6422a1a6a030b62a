"""Where usage went, per tool and per model: a person's over a period (`/leaderboard me`,
App Home), and the org's over days (the daily digest).

A person's split sums the `t:`/`c:`/`m:` fields of their days (`bot.core.tools`, one
pipelined read of the period's days); the org's reads one small hash a day (the per-tool
totals the counting script keeps), so it costs O(days × tools), never O(people).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from bot.boards.why import Why, explain, outcome_counts, period_days
from bot.core.config import BoardConfig
from bot.core.periods import Bucket
from bot.core.tools import ToolTotals, ToolUse, UsageSplit, shares, split, tool_name
from bot.store.store import Store

MODELS_SHOWN = 3


@dataclass(frozen=True)
class ToolLine:
    name: str        # as shown: "Claude Code"
    tokens: float
    cost: float      # USD
    share: int       # whole percent of the tokens (of the cost when no tokens at all)


@dataclass(frozen=True)
class UsageSummary(ToolTotals):
    """A split ready to show: tools with their shares (adding up to 100), the top
    models and the rest of the models' tokens as "others"."""

    tools: list[ToolLine]
    models: list[tuple[str, float, int]]  # (model, tokens, share of the models' tokens)
    other_models: float = 0.0
    other_share: int = 0


def summarise(found: UsageSplit | Mapping[str, float],
              models_shown: int = MODELS_SHOWN) -> UsageSummary:
    """What a split (or summed day counts) says, for showing. Pure."""
    usage = found if isinstance(found, UsageSplit) else split(found)
    tools: list[ToolUse] = usage.tools
    by_tokens = any(t.tokens for t in tools)
    percents = shares([t.tokens if by_tokens else t.cost for t in tools])
    lines = [ToolLine(tool_name(t.tool), t.tokens, t.cost, p)
             for t, p in zip(tools, percents, strict=True)]
    named = [(m, n) for m, n in usage.models if m != "other"][:models_shown]
    rest = sum(n for m, n in usage.models) - sum(n for _, n in named)
    model_shares = shares([n for _, n in named] + [rest])
    return UsageSummary(tools=lines,
                        models=[(m, n, p) for (m, n), p in zip(named, model_shares,
                                                                strict=False)],
                        other_models=rest, other_share=model_shares[-1] if rest else 0)


def person_usage(store: Store, bucket: Bucket, user: str,
                 today: date | None = None) -> UsageSummary:
    """The person's tokens and cost per tool and tokens per model in `bucket` (up to
    today in the store's zone)."""
    return summarise(_person_counts(store, bucket, user, today))


def person_usage_and_why(store: Store, config: BoardConfig, bucket: Bucket, user: str
                         ) -> tuple[UsageSummary, Why]:
    """`person_usage` and the person's outcome points explained (`bot.boards.why.explain`)
    from one read of their days (`/leaderboard me`, App Home)."""
    counts = _person_counts(store, bucket, user)
    return summarise(counts), explain(outcome_counts(counts), config)


def _person_counts(store: Store, bucket: Bucket, user: str,
                   today: date | None = None) -> dict[str, float]:
    today = today or datetime.now(store.tz).date()
    days = period_days(bucket, today, store.retention_days)
    return store.reads.summed_day_counts(days, user)


def org_usage(store: Store, days: Sequence[date]) -> UsageSummary:
    """The org's tokens and cost per tool over `days` (no models: those are per person)."""
    return summarise(store.reads.tool_totals(days))
