"""The digest's schedule: the cron trigger across daylight-saving changes, the day a run
covers, several schedulers at once, catch-up after downtime and run-time rescheduling.

Real Redis and the Slack stub; freezegun only around direct calls (never a running
scheduler thread).
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import redis
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
from freezegun import freeze_time

from bot.core.config import BoardConfig
from jobs.digest import DigestRunner
from jobs.scheduler import DigestScheduler
from tests.support.digest_org import local, make_deps, seed
from tests.support.digest_posts import board_fields, header, parse_board, posted_dates, posts
from tests.support.digests import BERLIN, CHANNEL

# -- the cron trigger across daylight-saving changes -----------------------------------------


# -- the day a run covers ---------------------------------------------------------------------


@pytest.mark.parametrize(("instant", "digest_time", "covered", "title"), [
    # 09:00 CEST, the first morning after the spring change: Saturday, a 24-hour day.
    ("2026-03-29T07:00:00Z", "09:00", date(2026, 3, 28), "Sat 28 Mar 2026"),
    # 09:00 CEST the day after: Sunday 29 March, the 23-hour day.
    ("2026-03-30T07:00:00Z", "09:00", date(2026, 3, 29), "Sun 29 Mar 2026"),
    # 09:00 CET, the first morning after the autumn change: Saturday 24 October.
    ("2026-10-25T08:00:00Z", "09:00", date(2026, 10, 24), "Sat 24 Oct 2026"),
    # 09:00 CET the day after: Sunday 25 October, the 25-hour day.
    ("2026-10-26T08:00:00Z", "09:00", date(2026, 10, 25), "Sun 25 Oct 2026"),
    # 00:30 local on Sunday is still Saturday in UTC: the digest covers Saturday.
    ("2026-03-28T23:30:00Z", "00:30", date(2026, 3, 28), "Sat 28 Mar 2026"),
])
def test_fire_covers_the_previous_local_day(settings, redis_client, stub, instant: str,
                                            digest_time: str, covered: date,
                                            title: str) -> None:
    deps = make_deps(settings, redis_client, digest_time=digest_time)
    for uid, name in {"U0FIRST": "First", "U0LAST": "Last", "U0EARLY": "TooEarly",
                      "U0LATE": "TooLate"}.items():
        stub.add_user(uid, display_name=name)
    # Reports at the very edges of the covered local day, and just outside it.
    seed(deps, local(covered, 0, 10), {"U0FIRST": (2000, {})})
    seed(deps, local(covered, 23, 50), {"U0LAST": (1000, {"review": 1})})
    seed(deps, local(covered - timedelta(days=1), 23, 50), {"U0EARLY": (5000, {})})
    seed(deps, local(covered + timedelta(days=1), 0, 10), {"U0LATE": (7000, {})})

    scheduler = DigestScheduler(deps)
    with freeze_time(instant):
        outcome = scheduler.fire()
    assert outcome is not None and outcome.status == "posted", outcome
    assert outcome.day == covered
    [post] = posts(stub)
    assert title in header(post)
    assert post["metadata"]["event_payload"]["date"] == covered.isoformat()
    left, _ = board_fields(post)
    assert [name for _, name, _, _ in parse_board(left)] == ["First", "Last"]


# -- several schedulers at the same instant --------------------------------------------------


def test_three_schedulers_at_the_same_instant_post_once(settings, redis_client, redis_url,
                                                        stub) -> None:
    """Three 'processes' (own Redis connection, own Deps, own owner id) fire together."""
    seeder = make_deps(settings, redis_client)
    days = [date(2026, 11, 20), date(2026, 11, 21), date(2026, 11, 22)]
    for day in days:
        seed(seeder, local(day, 12), {"U0ANA": (5000, {}), "U0DEV": (1000, {"deploy": 1})})
    clients = [redis.Redis.from_url(redis_url) for _ in range(3)]
    schedulers = [DigestScheduler(deps, DigestRunner(deps, owner=f"proc-{i}"))
                  for i, deps in enumerate(make_deps(settings, c) for c in clients)]
    statuses: dict[date, list[str]] = {}
    errors: list[BaseException] = []
    try:
        for day in days:
            instant = local(day + timedelta(days=1), 9)
            barrier = threading.Barrier(len(schedulers))
            results: list[str] = []
            lock = threading.Lock()

            def go(scheduler: DigestScheduler, instant: datetime = instant,
                   barrier: threading.Barrier = barrier, results: list[str] = results,
                   lock: threading.Lock = lock) -> None:
                try:
                    barrier.wait(timeout=10)
                    outcome = scheduler.fire(now=instant)
                    with lock:
                        results.append(outcome.status if outcome else "none")
                except BaseException as exc:  # surfaced in the main thread below
                    errors.append(exc)

            threads = [threading.Thread(target=go, args=(s,)) for s in schedulers]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=30)
            statuses[day] = sorted(results)
    finally:
        for c in clients:
            c.close()
    assert errors == []
    assert posted_dates(stub) == [d.isoformat() for d in days]  # one post per day
    for day in days:
        assert statuses[day].count("posted") == 1, statuses
        assert set(statuses[day]) <= {"posted", "claimed_elsewhere", "already_posted"}
        assert len(statuses[day]) == 3


def test_three_background_schedulers_with_one_date_job_each_post_once(
        settings, redis_client, redis_url, stub) -> None:
    day = date(2026, 11, 23)
    clients = [redis.Redis.from_url(redis_url) for _ in range(3)]
    all_deps = [make_deps(settings, c) for c in clients]
    seed(all_deps[0], local(day, 12), {"U0ANA": (5000, {}), "U0DEV": (1000, {"deploy": 1})})
    schedulers = [DigestScheduler(deps, DigestRunner(deps, owner=f"bg-{i}"))
                  for i, deps in enumerate(all_deps)]
    run_at = datetime.now(UTC) + timedelta(seconds=0.4)
    done = threading.Semaphore(0)
    try:
        for s in schedulers:
            s.scheduler.add_listener(lambda _event: done.release(),
                                     EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
            s.scheduler.add_job(s.fire, "date", run_date=run_at,
                                kwargs={"now": local(day + timedelta(days=1), 9)},
                                misfire_grace_time=30)
        for s in schedulers:
            s.scheduler.start()
        for _ in schedulers:
            assert done.acquire(timeout=30)
    finally:
        for s in schedulers:
            if s.scheduler.running:
                s.scheduler.shutdown(wait=True)
        for c in clients:
            c.close()
    assert posted_dates(stub) == ["2026-11-23"]


# -- catch-up after downtime -----------------------------------------------------------------

TODAY = date(2026, 11, 24)  # catch-up on Tuesday covers Monday 23 November


@pytest.mark.parametrize(("hour", "minute"), [(9, 0), (10, 0), (14, 59)])
def test_catch_up_inside_the_grace_window_posts_once(settings, redis_client, stub,
                                                     hour: int, minute: int) -> None:
    deps = make_deps(settings, redis_client)
    scheduler = DigestScheduler(deps)
    outcome = scheduler.catch_up(now=local(TODAY, hour, minute))
    assert outcome is not None and outcome.status == "posted"
    assert outcome.day == date(2026, 11, 23)
    assert posted_dates(stub) == ["2026-11-23"]
    # A second process starting a little later finds it posted and does nothing.
    later = DigestScheduler(make_deps(settings, redis_client))
    assert later.catch_up(now=local(TODAY, hour, minute)) is None
    assert posted_dates(stub) == ["2026-11-23"]


def test_catch_up_past_the_grace_window_is_skipped_and_logged(settings, redis_client, stub,
                                                              caplog) -> None:
    caplog.set_level(logging.INFO)
    deps = make_deps(settings, redis_client)
    assert DigestScheduler(deps).catch_up(now=local(TODAY, 16)) is None  # 7 hours late
    assert posts(stub) == []
    assert deps.store.digests.posted(CHANNEL, date(2026, 11, 23)) is None
    [record] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert "2026-11-23" in record.getMessage()


def test_catch_up_before_the_digest_time_does_nothing(settings, redis_client, stub) -> None:
    deps = make_deps(settings, redis_client)
    assert DigestScheduler(deps).catch_up(now=local(TODAY, 8, 59)) is None
    assert DigestScheduler(deps).catch_up(now=local(TODAY, 0, 5)) is None
    assert posts(stub) == []
    assert stub.calls("conversations.history") == []


def test_catch_up_after_midnight_posts_the_digest_missed_late_the_evening_before(
        settings, redis_client, stub) -> None:
    # The 23:30 digest of Monday 23 Nov (covering Sunday 22) was missed; a process
    # starts at 00:30 on Tuesday, one hour late, well inside the 6-hour window.
    deps = make_deps(settings, redis_client, digest_time="23:30")
    outcome = DigestScheduler(deps).catch_up(now=local(TODAY, 0, 30))
    assert outcome is not None and outcome.status == "posted"
    assert posted_dates(stub) == ["2026-11-22"]


# -- schedule changes at run time ----------------------------------------------------------------


def cron_fields(scheduler: DigestScheduler) -> dict[str, str]:
    job = scheduler.scheduler.get_job("digest")
    assert job is not None
    return {f.name: str(f) for f in job.trigger.fields}


def next_local_run(scheduler: DigestScheduler, tz: ZoneInfo) -> tuple[int, int]:
    job = scheduler.scheduler.get_job("digest")
    assert job is not None and job.next_run_time is not None
    when = job.next_run_time.astimezone(tz)
    return when.hour, when.minute


def test_sync_reschedules_the_running_job_after_a_config_change(settings, redis_client,
                                                                stub) -> None:
    # No channel: the catch-up job that start() queues has nothing to post.
    deps = make_deps(settings, redis_client, digest_channel="")
    scheduler = DigestScheduler(deps).start()
    try:
        assert scheduler.scheduler.running
        assert (cron_fields(scheduler)["hour"], cron_fields(scheduler)["minute"]) == ("9", "0")
        assert next_local_run(scheduler, BERLIN) == (9, 0)
        assert scheduler.sync() is False  # nothing changed

        deps.store.configs.save(BoardConfig(digest_time="07:30"))
        assert scheduler.sync() is True
        assert (cron_fields(scheduler)["hour"], cron_fields(scheduler)["minute"]) == ("7", "30")
        assert next_local_run(scheduler, BERLIN) == (7, 30)
        assert scheduler.sync() is False

        new_york = ZoneInfo("America/New_York")
        deps.store.configs.save(BoardConfig(digest_time="07:30", timezone="America/New_York"))
        assert scheduler.sync() is True
        job = scheduler.scheduler.get_job("digest")
        assert job is not None and str(job.trigger.timezone) == "America/New_York"
        assert next_local_run(scheduler, new_york) == (7, 30)
    finally:
        scheduler.scheduler.shutdown(wait=True)
    assert posts(stub) == []
