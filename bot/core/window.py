"""The counting window, one check for every source: a report is counted only if it is
neither in the future nor older than the retention window.

Each source words its own refusal (the JSON of /ingest, an OTLP partial success, a
webhook's `ignored`, a pull's rejects); which reports are refused is decided here.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Literal

MAX_FUTURE = timedelta(minutes=10)  # clock skew allowed to a report's own time

Outside = Literal["future", "old"]


def outside_window(when: datetime | date, now: datetime, retention_days: int
                   ) -> Outside | None:
    """Why a report of `when` is not counted at `now`: "future", "old", or None.

    A time (a report, data point or fact) may be at most MAX_FUTURE ahead of `now` and
    at most `retention_days` days behind it. A calendar date (a vendor's daily row, its
    own date whatever the time zone) may be at most tomorrow and no earlier than
    `retention_days` days before today (the date of `now`)."""
    if isinstance(when, datetime):
        if when > now + MAX_FUTURE:
            return "future"
        if when < now - timedelta(days=retention_days):
            return "old"
        return None
    today = now.date()
    if when > today + timedelta(days=1):
        return "future"
    if when < today - timedelta(days=retention_days):
        return "old"
    return None
