"""tests/support/clock.py: when a test's clock is moved past UTC midnight, and where to."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from tests.support.clock import shifted_now

MIDNIGHT = datetime(2026, 11, 25, tzinfo=UTC)


@pytest.mark.parametrize(("now", "moved_to"), [
    (MIDNIGHT - timedelta(minutes=2), MIDNIGHT + timedelta(minutes=2)),
    (MIDNIGHT - timedelta(seconds=1), MIDNIGHT + timedelta(minutes=2)),
    (MIDNIGHT, MIDNIGHT + timedelta(minutes=2)),
    (MIDNIGHT + timedelta(minutes=1, seconds=59), MIDNIGHT + timedelta(minutes=2)),
    (MIDNIGHT - timedelta(minutes=2, seconds=1), None),
    (MIDNIGHT + timedelta(minutes=2), None),
    (MIDNIGHT + timedelta(hours=12), None),
])
def test_a_test_near_midnight_runs_after_it(now: datetime, moved_to: datetime | None) -> None:
    assert shifted_now(now) == moved_to


def test_midnight_is_utcs_whatever_the_zone_given() -> None:
    berlin_evening = datetime(2026, 11, 25, 0, 59, tzinfo=timezone(timedelta(hours=1)))
    assert shifted_now(berlin_evening) == MIDNIGHT + timedelta(minutes=2)  # 23:59 UTC


def test_the_clock_is_moved_forward_by_four_minutes_at_most() -> None:
    for seconds in range(-180, 180, 7):
        now = MIDNIGHT + timedelta(seconds=seconds)
        moved = shifted_now(now)
        assert moved is None or timedelta(0) < moved - now <= timedelta(minutes=4)
