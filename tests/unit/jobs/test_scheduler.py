"""jobs.scheduler: the digest's cron trigger in the workspace zone, across both
daylight-saving changes (freezegun around direct calls; no scheduler runs), and the
jobs' threads' CPU priority."""

from __future__ import annotations

import os
import sys
import threading
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from freezegun import freeze_time

from bot.slack.digest_schedule import Schedule
from jobs.scheduler import JOB_NICENESS, digest_trigger, job_executor
from tests.support.schedules import berlin, utc


def fire_times(schedule: Schedule, count: int) -> list[datetime]:
    """The next `count` fire times of the digest trigger from the (frozen) clock, in UTC."""
    trigger = digest_trigger(schedule)
    times: list[datetime] = []
    previous = None
    now = datetime.now(UTC)
    for _ in range(count):
        fire = trigger.get_next_fire_time(previous, now)
        assert fire is not None
        times.append(fire.astimezone(UTC))
        previous, now = fire, fire + timedelta(seconds=1)
    return times


def test_trigger_fires_at_nine_berlin_around_the_spring_change() -> None:
    # Clocks go forward on Sun 29 Mar 2026: 09:00 is 08:00Z before, 07:00Z from then on.
    with freeze_time("2026-03-27T12:00:00Z"):
        assert fire_times(berlin(), 3) == [utc("2026-03-28T08:00"), utc("2026-03-29T07:00"),
                                           utc("2026-03-30T07:00")]


def test_trigger_fires_at_nine_berlin_around_the_autumn_change() -> None:
    # Clocks go back on Sun 25 Oct 2026: 09:00 is 07:00Z before, 08:00Z from then on.
    with freeze_time("2026-10-23T12:00:00Z"):
        assert fire_times(berlin(), 3) == [utc("2026-10-24T07:00"), utc("2026-10-25T08:00"),
                                           utc("2026-10-26T08:00")]


def test_trigger_just_after_midnight_local_is_the_evening_before_in_utc() -> None:
    with freeze_time("2026-03-20T12:00:00Z"):
        assert fire_times(berlin("00:30"), 2) == [utc("2026-03-20T23:30"),
                                                  utc("2026-03-21T23:30")]
    with freeze_time("2026-10-20T12:00:00Z"):
        assert fire_times(berlin("00:30"), 2) == [utc("2026-10-20T22:30"),
                                                  utc("2026-10-21T22:30")]


@pytest.mark.xfail(strict=True, reason=(
    "APScheduler 3.11 CronTrigger, as built by jobs.scheduler.digest_trigger, skips the "
    "first day after the spring change for times 00:00-00:59: after firing at 00:30 CET "
    "on Sun 29 Mar 2026 its next fire time is Tue 31 Mar, so Monday's digest never runs"))
def test_a_digest_just_after_midnight_fires_every_day_across_the_spring_change() -> None:
    with freeze_time("2026-03-27T12:00:00Z"):
        assert fire_times(berlin("00:30"), 3) == [
            utc("2026-03-27T23:30"),  # Sat 28 Mar 00:30 CET
            utc("2026-03-28T23:30"),  # Sun 29 Mar 00:30 CET
            utc("2026-03-29T22:30"),  # Mon 30 Mar 00:30 CEST
        ]


def test_jobs_run_at_a_lower_cpu_priority_than_the_rest_of_the_process() -> None:
    """On Linux (CI's platform) the job's thread runs at JOB_NICENESS; elsewhere niceness
    is the whole process's, so the job leaves it as it is."""
    me = threading.get_native_id()
    mine = os.getpriority(os.PRIO_PROCESS, me)
    seen: list[tuple[int, int]] = []
    executor = job_executor()
    scheduler = BackgroundScheduler(timezone=UTC, executors={"default": executor})
    done = threading.Event()

    def job() -> None:
        thread = threading.get_native_id()
        seen.append((thread, os.getpriority(os.PRIO_PROCESS, thread)))
        done.set()

    # a job that stays scheduled: a one-off one is removed after its run, which can race
    # the shutdown below
    scheduler.add_job(job, "interval", hours=1, next_run_time=datetime.now(UTC))
    scheduler.start()
    try:
        assert done.wait(10)
    finally:
        scheduler.shutdown()
    (thread, priority), = seen
    wanted = max(mine, JOB_NICENESS) if sys.platform == "linux" else mine
    assert thread != me and priority == wanted
    assert os.getpriority(os.PRIO_PROCESS, me) == mine  # the calling thread kept its own
