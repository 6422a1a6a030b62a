"""Digest schedules and UTC instants for the scheduler's tests."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.slack.digest_schedule import Schedule
from tests.support.digests import CHANNEL


def berlin(time: str = "09:00") -> Schedule:
    return Schedule(channel=CHANNEL, time=time, timezone="Europe/Berlin", enabled=True,
                    grace_hours=6.0)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)
