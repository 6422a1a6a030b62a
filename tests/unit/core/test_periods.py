"""Calendar periods in a non-UTC zone, across both daylight-saving changes (freezegun)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time

from bot.boards.leaderboard import Leaderboards
from bot.core.periods import bucket_for_period, period_name, period_phrase, period_title
from bot.intake.ingest import ingest_events
from bot.store.store import Store

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # 2026-03-29: clocks go 02:00 CET -> 03:00 CEST. 22:30Z is already 00:30 on the 30th.
        ("2026-03-29T22:30:00Z", {"today": "2026-03-30", "yesterday": "2026-03-29",
                                  "week": "2026-W14", "month": "2026-03"}),
        ("2026-03-29T21:59:00Z", {"today": "2026-03-29", "yesterday": "2026-03-28",
                                  "week": "2026-W13", "month": "2026-03"}),
        # 2026-10-25: clocks go 03:00 CEST -> 02:00 CET. 23:30Z is 00:30 on the 26th (CET).
        ("2026-10-25T23:30:00Z", {"today": "2026-10-26", "yesterday": "2026-10-25",
                                  "week": "2026-W44", "month": "2026-10"}),
        ("2026-10-25T22:30:00Z", {"today": "2026-10-25", "yesterday": "2026-10-24",
                                  "week": "2026-W43", "month": "2026-10"}),
        # Month and year boundaries: 2026-12-31T23:30Z is already 2027-01-01 in Berlin,
        # which is in ISO week 2026-W53.
        ("2026-12-31T23:30:00Z", {"today": "2027-01-01", "yesterday": "2026-12-31",
                                  "week": "2026-W53", "month": "2027-01"}),
    ],
)
def test_period_buckets_in_berlin(now: str, expected: dict[str, str]) -> None:
    with freeze_time(now):
        for period, name in expected.items():
            assert bucket_for_period(period, BERLIN).name == name
        assert bucket_for_period("all", BERLIN).name == "all"


def test_unknown_period() -> None:
    with pytest.raises(ValueError, match="unknown period 'fortnight'"):
        bucket_for_period("fortnight", BERLIN)


def _usage(id: str, ts: str, tokens: int) -> dict:
    return {"id": id, "type": "usage", "user": "U0ANA", "ts": ts, "tool": "t", "tokens": tokens}


def test_reports_land_on_the_local_day_on_a_dst_day(redis_client, deps) -> None:
    store = Store(redis_client, tz=BERLIN)
    events = [
        _usage("a", "2026-03-28T23:30:00Z", 1),       # 00:30 CET on the 29th
        _usage("b", "2026-03-29T01:30:00+00:00", 10),  # 03:30 CEST on the 29th (after the jump)
        _usage("c", "2026-03-29T21:59:00Z", 100),     # 23:59 CEST on the 29th
        _usage("d", "2026-03-29T22:00:00Z", 1000),    # 00:00 CEST on the 30th
        _usage("e", 1774735200, 10000),               # epoch of 2026-03-28T22:00Z = 23:00 CET 28th
    ]
    with freeze_time("2026-03-30T08:00:00Z"):
        result = ingest_events(store, deps.identities, events,
                               now=datetime.now(UTC))
        assert result.counted == 5, result
        boards = Leaderboards(store)
        tokens = {p: sum(r.tokens for r in boards.period_board(p).board.raw)
                  for p in ("today", "yesterday", "week", "month", "all")}
    assert tokens == {"today": 1000, "yesterday": 111, "week": 1000,
                      "month": 11111, "all": 11111}
    with freeze_time("2026-03-29T12:00:00Z"):
        assert sum(r.tokens for r in Leaderboards(store).period_board("week").board.raw) == 10111


def test_periods_are_named_as_people_say_them() -> None:
    tz, now = ZoneInfo("UTC"), datetime(2026, 11, 25, 12, tzinfo=UTC)  # a Wednesday
    assert [period_name(p, tz, now) for p in ("today", "yesterday", "week", "month", "all")] \
        == ["today", "yesterday", "week of 23 Nov", "November 2026", "all time"]
    assert period_phrase("week", "week of 23 Nov") == "in the week of 23 Nov"
    assert period_phrase("all", "all time") == "over all time"
    assert period_title("week", tz, now) == "This week (week of 23 Nov, to Wed 25 Nov)"
    assert "W48" not in period_title("week", tz, now)
