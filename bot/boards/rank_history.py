"""One person's daily ranks on both boards over recent days, for their App Home.

Read from the day sorted sets for the viewer only, never whole boards: per day and board,
ZSCORE (the viewer's score), ZCOUNT of the scores strictly above it (O(log n)) and the
scores of the opted-out people (ZMSCORE; they are left out of the boards the viewer sees,
so the ones above are not counted). One pipeline for all days: O(days × log n) Redis work
however large the org. The rank is the competition rank ("1224") that `rank_board` gives:
1 + the number of people scoring strictly more.

Drawn (chart, sparkline, alt text) by `bot.render.rank_chart`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from bot.store.store import Store

DAYS = 30


@dataclass(frozen=True)
class DayRanks:
    day: date
    raw: int | None  # None: not on that day's boards
    outcome: int | None
    no_outcomes: bool = False
    """On the boards with no outcome points: `outcome` is the last place everyone without
    outcomes shares, not a rank earned."""


def daily_ranks(store: Store, user: str, last_day: date, raw_metric: str = "tokens",
                days: int = DAYS, hidden: frozenset[str] = frozenset()) -> list[DayRanks]:
    """The viewer's ranks on both boards for the `days` days ending with `last_day`.

    `hidden`: people left out of the boards the viewer sees (opted out; never the viewer).
    Someone is on a day's boards when any of their usage, points or tokens is non-zero,
    as in `rank_board`.
    """
    hidden_list = sorted(hidden - {user})
    metrics = [raw_metric, "points"] + (["tokens"] if raw_metric != "tokens" else [])
    span = [last_day - timedelta(days=offset) for offset in range(days - 1, -1, -1)]
    ranks = []
    for day, (found, pair) in zip(span, store.reads.day_ranks(user, span, metrics, hidden_list),
                                  strict=True):
        if pair is None:
            ranks.append(DayRanks(day, None, None))
        else:
            ranks.append(DayRanks(day, pair[0], pair[1], no_outcomes=(found[1] or 0.0) <= 0))
    return ranks
