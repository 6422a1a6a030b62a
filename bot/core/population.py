"""Whole-population figures of one period's boards: what only everyone's numbers give.

ρ, τ, the flag threshold, the org's efficiency rate, the efficiency leaders and the
flagged count need every active person of the period; a request that only shows the top
of each board must not compute them. They are computed in the background (and, for a
small org, on the spot), stored as one JSON value per period, and read back with the
board. `generation` is the store's change counter when they were computed: when it still
matches, they describe exactly the data the board shows.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from bot.core.config import BoardConfig
from bot.core.ranking import Board


@dataclass(frozen=True)
class Population:
    people: int
    spearman: float | None
    kendall: float | None
    flag_threshold: float
    org_rate: float | None
    """Total points per token over everyone (None when nobody used tokens)."""
    flagged_count: int
    efficiency_leaders: tuple[tuple[str, float], ...]
    generation: int
    computed_at: float
    """Epoch seconds."""
    signature: str
    """The configuration the figures depend on (see `signature`)."""

    def to_json(self) -> str:
        return json.dumps({
            "people": self.people, "spearman": self.spearman, "kendall": self.kendall,
            "flag_threshold": self.flag_threshold, "org_rate": self.org_rate,
            "flagged_count": self.flagged_count,
            "efficiency_leaders": [list(x) for x in self.efficiency_leaders],
            "generation": self.generation, "computed_at": self.computed_at,
            "signature": self.signature})

    @classmethod
    def from_json(cls, raw: str | bytes) -> Population | None:
        """None for anything unreadable (an older format): it is simply computed again."""
        try:
            data = json.loads(raw)
            return cls(people=int(data["people"]), spearman=data["spearman"],
                       kendall=data["kendall"], flag_threshold=float(data["flag_threshold"]),
                       org_rate=data["org_rate"], flagged_count=int(data["flagged_count"]),
                       efficiency_leaders=tuple((str(u), float(e))
                                                for u, e in data["efficiency_leaders"]),
                       generation=int(data["generation"]),
                       computed_at=float(data["computed_at"]),
                       signature=str(data["signature"]))
        except (ValueError, KeyError, TypeError):
            return None

    def efficiency(self, points: float, tokens: float, min_tokens: float) -> float | None:
        """A person's efficiency with this org rate (see `bot.core.ranking.rank_board`)."""
        if self.org_rate is None or tokens < min_tokens or tokens + min_tokens <= 0:
            return None
        return (points + min_tokens * self.org_rate) / (tokens + min_tokens) * 1e6

    def flags(self, points: float, tokens: float) -> bool:
        """"High usage, no outcomes" with this threshold."""
        return tokens > 0 and tokens >= self.flag_threshold and points == 0


def signature(config: BoardConfig) -> str:
    """What in the configuration the figures depend on: stored figures computed with
    another raw metric, efficiency minimum or board size are not used."""
    return f"{config.raw_metric}|{config.efficiency_min_tokens:g}|{config.board_size}"


def population_of(board: Board, config: BoardConfig, generation: int,
                  computed_at: float) -> Population:
    """The whole-population figures of a fully ranked board."""
    org_rate = None
    if board.org_efficiency is not None:
        org_rate = board.org_efficiency / 1e6
    leaders = tuple((row.user, float(row.efficiency)) for row in board.efficiency_leaders
                    if row.efficiency is not None and math.isfinite(row.efficiency))
    return Population(people=board.agreement.people, spearman=board.agreement.spearman,
                      kendall=board.agreement.kendall, flag_threshold=board.flag_threshold,
                      org_rate=org_rate, flagged_count=board.flagged_count,
                      efficiency_leaders=leaders, generation=generation,
                      computed_at=computed_at, signature=signature(config))
