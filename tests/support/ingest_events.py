"""/ingest events reported a minute ago, and the day's totals they add up to."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.core.periods import day_bucket, local_date
from tests.conftest import App

NOW = datetime.now(UTC) - timedelta(minutes=1)
TS = NOW.isoformat().replace("+00:00", "Z")


def usage(id: str, user: str = "U0ANA", tokens: int = 1000, **extra: object) -> dict:
    return {"id": id, "type": "usage", "user": user, "ts": TS, "tool": "meshclaw",
            "tokens": tokens, "cost_usd": 0.01, **extra}


def outcome(id: str, user: str = "U0ANA", kind: str = "pr_merged", count: int = 1,
            **extra: object) -> dict:
    return {"id": id, "type": "outcome", "user": user, "ts": TS, "kind": kind,
            "count": count, **extra}


def totals(app: App) -> dict[str, tuple[float, float]]:
    people = app.deps.store.reads.period_totals(day_bucket(local_date(NOW, app.deps.store.tz)))
    return {p.user: (p.tokens, p.points) for p in people}
