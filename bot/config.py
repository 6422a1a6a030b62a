"""The workspace's metrics configuration: what counts, how much, and how boards show.

Stored as JSON in Redis (see `Store.load_config`) so every running copy of the bot
reads the same rules; these defaults apply until an admin saves their own.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.scoring import Transform

KIND_KEY = re.compile(r"^[a-z][a-z0-9_]{1,31}$")
RawMetric = Literal["tokens", "cost", "requests"]
RAW_METRIC_LABELS = {"tokens": "tokens", "cost": "cost (USD)", "requests": "requests"}


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


class BoardConfig(BaseModel):
    """Everything an admin can change. Field defaults are the product's defaults."""

    model_config = ConfigDict(extra="forbid")

    raw_metric: RawMetric = "tokens"
    outcomes: dict[str, OutcomeRule] = Field(default_factory=lambda: dict(DEFAULT_OUTCOMES))
    board_size: int = Field(default=10, ge=5, le=25)
    efficiency_min_tokens: int = Field(default=100_000, ge=0)
    display: Literal["names", "mentions", "anonymous"] = "names"
    flags: Literal["admins", "everyone", "off"] = "admins"
    digest_enabled: bool = True
    digest_channel: str = ""
    digest_time: str = ""
    timezone: str = ""
    admins: list[str] = Field(default_factory=list)

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
