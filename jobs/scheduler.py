"""APScheduler wiring for the daily digest: a cron job at the configured local time,
catch-up after downtime, and re-scheduling when an admin changes the schedule; plus the
periodic jobs of jobs/periodic.py, each on its interval.

Every process running the jobs (bot/runtime/worker.py) schedules the digest; the claim in Redis
(jobs/digest.py) makes exactly one of them post it.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from bot.runtime.deps import Deps
from bot.slack.digest_schedule import Schedule, current_schedule
from jobs.digest import DigestResult, DigestRunner, previous_day
from jobs.periodic import PeriodicJob

log = logging.getLogger(__name__)
SYNC_SECONDS = 30  # how soon a schedule change made on another process takes effect
JOB_NICENESS = 10  # the jobs' threads leave the CPU to requests on a shared box


def lower_priority() -> None:
    """Run the calling thread at niceness JOB_NICENESS (on Linux niceness is per thread:
    the process's other threads, and processes it forks later, keep theirs). The jobs
    (the whole-population figures, charts, the digest) then take the CPU that requests
    leave: on a box shared with the web processes they no longer stall them for the
    seconds a refresh takes. Elsewhere, or if refused, the thread runs as it is."""
    if sys.platform != "linux":
        return
    thread = threading.get_native_id()
    try:
        now = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, max(now, JOB_NICENESS))
    except OSError as exc:
        log.debug("jobs keep their CPU priority: %s", exc)


def job_executor() -> ThreadPoolExecutor:
    """APScheduler's thread pool (its default size), each thread at JOB_NICENESS."""
    return ThreadPoolExecutor(10, pool_kwargs={"initializer": lower_priority})


def digest_trigger(schedule: Schedule) -> CronTrigger:
    hour, minute = schedule.hour_minute
    return CronTrigger(hour=hour, minute=minute, timezone=schedule.tz)


def due_time(schedule: Schedule, now: datetime) -> datetime:
    """Today's digest time (local) as an aware datetime."""
    hour, minute = schedule.hour_minute
    local = now.astimezone(schedule.tz)
    naive = datetime(local.year, local.month, local.day, hour, minute)
    return naive.replace(tzinfo=schedule.tz)


class DigestScheduler:
    def __init__(self, deps: Deps, runner: DigestRunner | None = None,
                 periodic: Sequence[PeriodicJob] = ()) -> None:
        self.deps = deps
        self.runner = runner or DigestRunner(deps)
        self.periodic = tuple(periodic)
        self.scheduler = BackgroundScheduler(timezone=UTC,
                                             executors={"default": job_executor()})
        self.schedule: Schedule | None = None
        self._warned: set[tuple[str, object]] = set()  # (channel, day) skipped and logged

    def start(self) -> DigestScheduler:
        self.schedule = current_schedule(self.deps)
        self.scheduler.add_job(self.fire, digest_trigger(self.schedule), id="digest",
                               misfire_grace_time=300, coalesce=True, max_instances=1)
        self.scheduler.add_job(self.sync, "interval", seconds=SYNC_SECONDS, id="sync",
                               coalesce=True, max_instances=1)
        for job in self.periodic:
            first = {"next_run_time": datetime.now(UTC)} if job.at_start else {}
            self.scheduler.add_job(self.run_periodic, "interval", args=(job,),
                                   seconds=job.seconds, id=job.name, coalesce=True,
                                   max_instances=2, misfire_grace_time=int(job.seconds) + 1,
                                   **first)
        self.scheduler.start()
        log.info("digest scheduled daily at %s %s to %s", self.schedule.time,
                 self.schedule.timezone, self.schedule.channel or "(no channel set)")
        # Once, right away, on a thread of its own rather than as a one-shot job: an
        # APScheduler stopped while it removes a one-shot job raises in its thread.
        threading.Thread(target=self.catch_up, name="catch-up", daemon=True).start()
        return self

    def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def run_periodic(self, job: PeriodicJob) -> None:
        try:
            job.run(self.deps)
        except Exception:
            log.exception("%s job failed", job.name)

    def fire(self, now: datetime | None = None) -> DigestResult | None:
        """The cron job: post the digest for the local day before. Never raises."""
        try:
            schedule = current_schedule(self.deps)
            return self.runner.run(previous_day(schedule, now))
        except Exception:
            log.exception("digest job failed")
            return None

    def catch_up(self, now: datetime | None = None) -> DigestResult | None:
        """Post a digest whose time passed within the grace window and that is not out yet.

        Runs at start-up and with every sync, so a digest missed while every process was
        down, or a cron fire the scheduler skipped, is posted once. Looks at yesterday's
        due time too, for late-evening digests caught up after midnight. A digest that
        failed for a reason retrying cannot fix (not_in_channel, ...) is left alone.
        """
        try:
            now = now or datetime.now(UTC)
            schedule = current_schedule(self.deps)
            if not schedule.enabled or not schedule.channel:
                return None
            store = self.deps.store
            for due in (due_time(schedule, now - timedelta(days=1)), due_time(schedule, now)):
                day = due.date() - timedelta(days=1)
                if now < due or store.digests.posted(schedule.channel, day):
                    continue
                if now - due > timedelta(hours=schedule.grace_hours):
                    today = due.date() == now.astimezone(schedule.tz).date()
                    if today and (schedule.channel, day) not in self._warned:
                        self._warned.add((schedule.channel, day))
                        log.warning("digest for %s was due at %s and missed by more than "
                                    "the %sh grace window; skipped", day, due.isoformat(),
                                    schedule.grace_hours)
                    continue
                if store.digests.failed(schedule.channel, day):
                    continue
                return self.runner.run(day)
            return None
        except Exception:
            log.exception("digest catch-up failed")
            return None

    def sync(self) -> bool:
        """Re-read the schedule; reschedule the cron job if it changed (True if so); then
        catch up on a digest that is due and not posted."""
        try:
            schedule = current_schedule(self.deps)
        except Exception:
            log.exception("could not read the digest schedule")
            return False
        changed = self._apply(schedule)
        self.catch_up()
        return changed

    def _apply(self, schedule: Schedule) -> bool:
        if schedule == self.schedule:
            return False
        old, self.schedule = self.schedule, schedule
        if old is None or (old.time, old.timezone) != (schedule.time, schedule.timezone):
            self.scheduler.reschedule_job("digest", trigger=digest_trigger(schedule))
            log.info("digest rescheduled to %s %s", schedule.time, schedule.timezone)
        return True
