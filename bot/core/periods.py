"""Calendar periods in the workspace time zone.

Every report lands in four buckets: its local day, ISO week, month and all-time. The
buckets are keyed by their local calendar name, so a read for "this week" is one key,
and daylight-saving changes need no special handling: local dates come from zoneinfo.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

PERIODS = ("today", "yesterday", "week", "month", "all")


@dataclass(frozen=True)
class Bucket:
    """One stored bucket: a scope letter and its local calendar name."""

    scope: str  # "d" day, "w" ISO week, "m" month, "a" all-time
    name: str  # "2026-11-24", "2026-W48", "2026-11", "all"

    @property
    def suffix(self) -> str:
        return f"{self.scope}:{self.name}"


def local_date(ts: datetime, tz: ZoneInfo) -> date:
    """The calendar date of an aware instant in `tz`."""
    return ts.astimezone(tz).date()


def day_bucket(day: date) -> Bucket:
    return Bucket("d", day.isoformat())


def week_bucket(day: date) -> Bucket:
    year, week, _ = day.isocalendar()
    return Bucket("w", f"{year}-W{week:02d}")


def month_bucket(day: date) -> Bucket:
    return Bucket("m", f"{day.year}-{day.month:02d}")


ALL = Bucket("a", "all")


def buckets_for_day(day: date) -> tuple[Bucket, Bucket, Bucket, Bucket]:
    """The four buckets an event of local date `day` counts in: day, week, month, all."""
    return day_bucket(day), week_bucket(day), month_bucket(day), ALL


def today(tz: ZoneInfo, now: datetime | None = None) -> date:
    return local_date(now or datetime.now(UTC), tz)


def bucket_for_period(period: str, tz: ZoneInfo, now: datetime | None = None) -> Bucket:
    """The bucket that answers `period` ("today", "yesterday", "week", "month", "all")."""
    day = today(tz, now)
    if period == "today":
        return day_bucket(day)
    if period == "yesterday":
        return day_bucket(day - timedelta(days=1))
    if period == "week":
        return week_bucket(day)
    if period == "month":
        return month_bucket(day)
    if period == "all":
        return ALL
    raise ValueError(f"unknown period {period!r}; use one of {', '.join(PERIODS)}")


def period_label(period: str) -> str:
    """Words for a sentence: 'today', 'this week', ..."""
    return {
        "today": "today",
        "yesterday": "yesterday",
        "week": "this week",
        "month": "this month",
        "all": "over all time",
    }[period]


def _day_month(day: date) -> str:
    """'23 Nov' (no leading zero, on every platform)."""
    return f"{day.day} {day:%b}"


def period_name(period: str, tz: ZoneInfo, now: datetime | None = None) -> str:
    """The period as people say it: 'today', 'yesterday', 'week of 23 Nov',
    'November 2026', 'all time' (never a bucket name like '2026-W48')."""
    day = today(tz, now)
    if period == "week":
        return f"week of {_day_month(day - timedelta(days=day.weekday()))}"
    if period == "month":
        return f"{day:%B %Y}"
    if period == "all":
        return "all time"
    if period in ("today", "yesterday"):
        return period
    raise ValueError(f"unknown period {period!r}; use one of {', '.join(PERIODS)}")


def period_phrase(period: str, name: str) -> str:
    """`name` fitted into a sentence: 'today', 'in the week of 23 Nov', 'in November 2026',
    'over all time'."""
    if period in ("week", "month"):
        return f"in the {name}" if period == "week" else f"in {name}"
    if period == "all":
        return "over all time"
    return name


def period_title(period: str, tz: ZoneInfo, now: datetime | None = None) -> str:
    """A heading naming the exact span, e.g. 'This week (week of 23 Nov, to Tue 24 Nov)'."""
    day = today(tz, now)
    if period == "today":
        return f"Today, {day:%a} {_day_month(day)} {day.year}"
    if period == "yesterday":
        before = day - timedelta(days=1)
        return f"Yesterday, {before:%a} {_day_month(before)} {before.year}"
    if period == "week":
        return f"This week ({period_name(period, tz, now)}, to {day:%a} {_day_month(day)})"
    if period == "month":
        return f"This month ({day:%B %Y}, to {_day_month(day)})"
    return "All time"
