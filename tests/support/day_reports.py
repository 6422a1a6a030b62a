"""Usage and outcome reports of one day, recorded straight into the store."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from bot.runtime.deps import Deps
from bot.sources.reports import OutcomeReport, UsageReport, as_counts


def usage(event_id: str, user: str, day: date, tokens: int) -> tuple:
    ts = datetime.combine(day, time(12), UTC)
    return UsageReport(id=event_id, type="usage", user=user, ts=ts, tool="t",
                       tokens=tokens), user


def outcome(event_id: str, user: str, day: date, kind: str, count: int = 1) -> tuple:
    ts = datetime.combine(day, time(12), UTC)
    return OutcomeReport(id=event_id, type="outcome", user=user, ts=ts, kind=kind,
                         count=count), user


def record(deps: Deps, reports: list[tuple]) -> None:
    config, version = deps.store.configs.load_versioned()
    events = [(as_counts(report), who) for report, who in reports]
    assert deps.store.counting.record(events, config, version) == [1] * len(reports)
