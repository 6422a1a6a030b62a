"""What the admin tests read back: outcome points by
period and by bucket, the configuration's version, the reply to a command; noon of a day.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from bot.runtime.deps import Deps


def at_noon(day: date) -> str:
    return datetime.combine(day, time(12), UTC).isoformat()


def outcome_points(deps: Deps, period: str) -> dict[str, float]:
    return {r.user: r.points for r in deps.leaderboards.period_board(period).board.outcome}


def bucket_points(deps: Deps, bucket) -> dict[str, float]:
    return {p.user: p.points for p in deps.store.reads.period_totals(bucket)}


def config_version(deps: Deps) -> int:
    return deps.store.configs.load_versioned()[1]


