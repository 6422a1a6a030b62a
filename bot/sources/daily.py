"""The shape every vendor admin report is read into: one row per identity and calendar
day, with the day-hash fields it sets (see `bot.core.counts`). The wire-format modules
(`claude_code`, `copilot`, `cursor`, `openai_usage`) are pure: payload in, rows and
rejected rows (each with its reason) out.

A row is the whole of what that source says about that identity on that day: when the
same source reports the day again, the new row replaces the old one (`Store.counting.record`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from bot.core.identity import IdentityError, normalize
from bot.core.tools import capped

DAY_TEXT = re.compile(r"^(\d{4}-\d{2}-\d{2})(T00:00:00(\.0+)?(Z|\+00:00))?$")


class RowError(ValueError):
    """One row cannot be used; the message says why."""


@dataclass(frozen=True)
class DailyRow:
    identity: str                          # normalized `source:value`
    day: date                              # the vendor's own calendar date
    fields: tuple[tuple[str, float], ...]  # day-hash field → amount (absolute, not a delta)

    def amount(self, name: str) -> float:
        return sum(a for f, a in self.fields if f == name)


@dataclass
class Parsed:
    rows: list[DailyRow] = field(default_factory=list)
    rejects: list[str] = field(default_factory=list)  # "<where>: <why>"

    def extend(self, other: Parsed) -> None:
        self.rows += other.rows
        self.rejects += other.rejects


def day_of(value: object) -> date:
    """`YYYY-MM-DD` or that day's UTC midnight as `YYYY-MM-DDT00:00:00Z`."""
    match = DAY_TEXT.match(value) if isinstance(value, str) else None
    if not match:
        raise RowError(f"date {str(value)[:40]!r} is not YYYY-MM-DD")
    try:
        return date.fromisoformat(match.group(1))
    except ValueError:
        raise RowError(f"date {value!r} does not exist") from None


def day_of_epoch_ms(value: object) -> date:
    """The UTC calendar date of an epoch-milliseconds time (a number or its text)."""
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 10**14:
        raise RowError(f"time {str(value)[:40]!r} is not epoch milliseconds")
    return datetime.fromtimestamp(value / 1000, tz=UTC).date()


def count(container: object, *path: str, required: bool = False) -> float:
    """The number at `path` inside nested objects: 0 when absent (unless `required`); a
    RowError for anything but a finite number at least 0."""
    value = container
    for name in path:
        if not isinstance(value, dict) or name not in value or value[name] is None:
            if required:
                raise RowError(f"{'.'.join(path)} is missing")
            return 0.0
        value = value[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RowError(f"{'.'.join(path)} is {str(value)[:40]!r}, not a number")
    if not math.isfinite(value) or value < 0:
        raise RowError(f"{'.'.join(path)} is {value!r}; it must be a number at least 0")
    return float(value)


def identity(source: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise RowError(f"no {source} identity")
    try:
        return normalize(f"{source}:{value.strip()}")
    except IdentityError as exc:
        raise RowError(str(exc)) from None


def fields(**amounts: float) -> tuple[tuple[str, float], ...]:
    """Keyword amounts as day-hash fields (`a_x` becomes the activity field `a:x`)."""
    return tuple((name.replace("a_", "a:", 1) if name.startswith("a_") else name, amount)
                 for name, amount in amounts.items())


def merge(rows: Iterable[DailyRow]) -> list[DailyRow]:
    """One row per identity and day: a source that reports someone's day in several
    records (per terminal, per model) adds them up, so the day's row is the whole day
    (with no more models than a person-day keeps: `bot.core.tools.capped`)."""
    merged: dict[tuple[str, date], dict[str, float]] = {}
    for row in rows:
        totals = merged.setdefault((row.identity, row.day), {})
        for name, amount in row.fields:
            totals[name] = totals.get(name, 0.0) + amount
    return [DailyRow(who, day, tuple(capped(totals))) for (who, day), totals in merged.items()]
