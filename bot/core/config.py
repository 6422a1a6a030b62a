"""The workspace's metrics configuration: what counts, how much, and how boards show.

Stored as JSON in Redis (see `Store.configs.load`) so every running copy of the bot
reads the same rules; these defaults apply until an admin saves their own.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.core.channel_ids import channel_problem, is_channel_id
from bot.core.outcome_rules import RULE_FIELDS, OutcomeRulesConfig, fractions

KIND_KEY = re.compile(r"^[a-z][a-z0-9_]{1,31}$")
RawMetric = Literal["tokens", "cost", "requests"]
# Points per person, kind and local day: weight × transform(min(count, cap)), where
# transform is x, √x or ln(1 + x). Applied by the store's Lua scripts (ingest and rescore).
Transform = Literal["linear", "sqrt", "log"]
RAW_METRIC_LABELS = {"tokens": "tokens", "cost": "cost (USD)", "requests": "requests"}
# Token types the tools report (OpenTelemetry); which of them add up to "tokens" is a setting.
TokenType = Literal["input", "output", "cache_read", "cache_creation", "thought", "tool",
                    "cache"]
# Where a tool's usage can come from: OpenTelemetry, /ingest, or a vendor's admin report.
ToolSource = Literal["otlp", "ingest", "claude-code", "copilot", "cursor", "openai"]
TOKEN_TYPES: tuple[str, ...] = ("input", "output", "cache_read", "cache_creation", "thought",
                                "tool", "cache")
# Token types that are part of another type as the tool reports them (Codex's cached input
# is inside its input, its reasoning inside its output): kept per day, never in "tokens".
SUBSET_TOKEN_TYPES: tuple[str, ...] = ("cached_input", "reasoning_output")


class OutcomeRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str = Field(min_length=1, max_length=60)
    weight: float = Field(ge=0, le=1000)
    cap: int | None = Field(default=None, ge=1, le=100_000)
    transform: Transform = "sqrt"


DEFAULT_OUTCOMES: dict[str, OutcomeRule] = {
    # Hard-to-fake outcomes weigh most; trivial ones are capped low and grow slowly.
    "pr_merged": OutcomeRule(label="PRs merged", weight=5, cap=10, transform="sqrt"),
    "deploy": OutcomeRule(label="Deploys", weight=3, cap=10, transform="sqrt"),
    "incident_resolved": OutcomeRule(label="Incidents resolved", weight=5, cap=5,
                                     transform="sqrt"),
    "ticket_resolved": OutcomeRule(label="Tickets resolved", weight=3, cap=10, transform="sqrt"),
    "review": OutcomeRule(label="Reviews", weight=2, cap=10, transform="sqrt"),
    "commit": OutcomeRule(label="Commits", weight=1, cap=20, transform="log"),
}


class BoardConfig(OutcomeRulesConfig):
    """Everything an admin can change. Field defaults are the product's defaults. The
    rules that keep cheap outcomes from paying (pull requests, reviews, tickets, deploys,
    incidents) are inherited from `bot.core.outcome_rules.OutcomeRulesConfig`."""

    model_config = ConfigDict(extra="forbid")

    raw_metric: RawMetric = "tokens"
    outcomes: dict[str, OutcomeRule] = Field(default_factory=lambda: dict(DEFAULT_OUTCOMES))
    board_size: int = Field(default=10, ge=5, le=25)
    efficiency_min_tokens: int = Field(default=100_000, ge=0)
    # "teams": shared surfaces rank teams only and never name an individual (teams only).
    display: Literal["names", "mentions", "anonymous", "teams"] = "names"
    flags: Literal["admins", "everyone", "off"] = "admins"
    digest_enabled: bool = True
    # "Share in channel" on the /leaderboard reply: posts the board publicly where the
    # command was typed (with the display setting above). Off: no button, clicks refused.
    sharing_enabled: bool = True
    digest_channel: str = ""
    digest_time: str = ""
    timezone: str = ""
    admins: list[str] = Field(default_factory=list)
    # Which reported token types make the raw "tokens" figure (default: all of them, as
    # the tools' own dashboards add them up).
    token_types: list[TokenType] = Field(default_factory=lambda: list(TOKEN_TYPES))
    # Claude Code sends the same tokens as metrics and as api_request log events: count
    # one of the two, never both.
    claude_code_usage: Literal["metrics", "events"] = "metrics"
    # Codex sends its tokens as the codex.sse_event log event (which names the person) and,
    # with a metrics exporter, as codex.turn.token_usage (which does not): count one of the
    # two, never both.
    codex_usage: Literal["metrics", "events"] = "events"
    # Which source counts a tool that arrives by more than one (Claude Code over
    # OpenTelemetry and from the Analytics API): tool → source. A tool not named here
    # counts from the source first heard from for it; every other source's usage of that
    # tool is left out, so nothing counts twice.
    tool_sources: dict[str, ToolSource] = Field(default_factory=dict)
    # Teams from Slack user groups: their handles or ids, synced by the worker
    # (bot/slack/usergroups.py); teams can also come from a CSV (`tokenboard teams import`).
    team_usergroups: list[str] = Field(default_factory=list, max_length=200)
    # A team's own daily digest: team name → channel id, posted with the main digest
    # (`tokenboard teams channel TEAM CHANNEL`).
    team_digest_channels: dict[str, str] = Field(default_factory=dict, max_length=200)

    def modifier_fractions(self) -> dict[str, float]:
        """What a modified outcome count is scaled by, per modifier (absent: 1)."""
        return fractions(self)

    @field_validator("outcomes")
    @classmethod
    def _kind_keys(cls, value: dict[str, OutcomeRule]) -> dict[str, OutcomeRule]:
        for key in value:
            if not KIND_KEY.match(key):
                raise ValueError(
                    f"outcome kind {key!r} must be 2-32 characters of a-z, 0-9 and _, "
                    "starting with a letter"
                )
        return value


TIME_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")


def check_config(config: BoardConfig) -> dict[str, str]:
    """Rules beyond the field types, as {field: problem}; empty when the config is usable."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    problems: dict[str, str] = {}
    if config.digest_time and not TIME_HHMM.match(config.digest_time):
        problems["digest_time"] = f"{config.digest_time!r} is not a time like 09:00"
    if config.timezone:
        try:
            ZoneInfo(config.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            problems["timezone"] = (f"{config.timezone!r} is not an IANA time zone "
                                    "(e.g. Europe/Berlin)")
    if config.digest_channel and not is_channel_id(config.digest_channel):
        # names are turned into ids before this (bot.slack.channels.resolve_channel)
        problems["digest_channel"] = (
            channel_problem(config.digest_channel)
            or f"{config.digest_channel!r} is a channel name: give its id (C… or G…)")
    bad_admins = [a for a in config.admins if not USER_ID.match(a)]
    if bad_admins:
        problems["admins"] = f"not Slack user ids: {', '.join(bad_admins)}"
    bad_channels = [f"{team} → {channel}" for team, channel in
                    sorted(config.team_digest_channels.items())
                    if not team.strip() or not is_channel_id(channel)]
    if bad_channels:
        problems["team_digest_channels"] = ("not a team name and a channel id (C… or G…): "
                                            + ", ".join(bad_channels))
    if not config.outcomes:
        problems["outcomes"] = "keep at least one outcome kind"
    if not config.token_types:
        problems["token_types"] = "keep at least one token type in the tokens figure"
    return problems


def scoring_changed(old: BoardConfig, new: BoardConfig) -> bool:
    """True when stored outcome points must be recomputed (weights, caps, transforms)."""
    def rules(c: BoardConfig) -> tuple:
        return ({k: (r.weight, r.cap, r.transform) for k, r in c.outcomes.items()},
                c.modifier_fractions())

    return rules(old) != rules(new)


def _fmt(value: object) -> str:
    if value is None or value == "":
        return "none"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "none"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in sorted(value.items())) or "none"
    return str(value)


def describe_changes(old: BoardConfig, new: BoardConfig) -> list[str]:
    """Human sentences for each change: 'pr_merged weight 5 → 8', 'added kind hotfix'."""
    changes: list[str] = []
    for key in sorted(old.outcomes.keys() - new.outcomes.keys()):
        changes.append(f"removed outcome kind {key}")
    for key in sorted(new.outcomes.keys() - old.outcomes.keys()):
        r = new.outcomes[key]
        changes.append(f"added outcome kind {key} ({r.label}: weight {_fmt(r.weight)}, "
                       f"cap {_fmt(r.cap)}, {r.transform})")
    for key in sorted(old.outcomes.keys() & new.outcomes.keys()):
        a, b = old.outcomes[key], new.outcomes[key]
        for name in ("weight", "cap", "transform", "label"):
            if getattr(a, name) != getattr(b, name):
                changes.append(f"{key} {name} {_fmt(getattr(a, name))} → "
                               f"{_fmt(getattr(b, name))}")
    for name in ("raw_metric", "board_size", "efficiency_min_tokens", "display", "flags",
                 "sharing_enabled", "digest_enabled", "digest_channel", "digest_time",
                 "timezone", "admins",
                 "token_types", "claude_code_usage", "codex_usage", *RULE_FIELDS,
                 "team_usergroups", "team_digest_channels"):
        a, b = getattr(old, name), getattr(new, name)
        if a != b:
            changes.append(f"{name.replace('_', ' ')} {_fmt(a)} → {_fmt(b)}")
    first = "the source first heard from"
    for tool in sorted(old.tool_sources.keys() | new.tool_sources.keys()):
        a, b = old.tool_sources.get(tool), new.tool_sources.get(tool)
        if a != b:
            changes.append(f"{tool} counts from {b or first} (was {a or first})")
    return changes
