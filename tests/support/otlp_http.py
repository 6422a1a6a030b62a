"""The boards the OTLP/HTTP tests read back."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.core.periods import buckets_for_day, local_date
from tests.conftest import App


def today() -> datetime:
    return datetime.now(UTC)


def board(app: App, metric: str = "tokens", scope: int = 0, day=None) -> dict[str, float]:
    """One board's scores (cost and requests: all-time only, unless the raw metric)."""
    day = day or local_date(today(), UTC)
    key = app.deps.store.keys.board(metric, buckets_for_day(day)[scope])
    return {m.decode(): s for m, s in app.deps.store.r.zrange(key, 0, -1, withscores=True)}
