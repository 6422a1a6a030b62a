"""The tests' clock near UTC midnight: moved past it, never waited for.

Many tests report "now" and read back "today" (or "yesterday", with reports timed a
minute or so in the past), and some take "now" when their module is imported. A session
that starts in the last minutes of a UTC day, or in the first minutes of the next one,
could see those land on different days. Instead of waiting for the day to turn (the
suite used to sleep up to three minutes), `shifted_now` says where to move the clock of
the test process (freezegun, ticking: time goes on from there); `tests/conftest.py` does
so before collection, for the whole session. Outside that window (every day but a few
minutes) the clock is left alone.

The shift is at most BEFORE + AFTER (four minutes), so the processes a test starts (which
keep the real clock) still take its reports (they refuse times more than ten minutes
ahead) and its Slack signatures (five minutes).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

BEFORE = timedelta(minutes=2)  # a session starting this close to midnight is moved past it
AFTER = timedelta(minutes=2)  # ... to this long after it (reports timed a minute back stay)


def shifted_now(now: datetime) -> datetime | None:
    """Where a session starting at `now` (aware) should find the clock: AFTER past the nearest
    UTC midnight when `now` is within BEFORE before it or AFTER after it; None (leave the
    clock alone) otherwise."""
    now = now.astimezone(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if now - midnight < AFTER:
        return midnight + AFTER
    next_midnight = midnight + timedelta(days=1)
    if next_midnight - now <= BEFORE:
        return next_midnight + AFTER
    return None
