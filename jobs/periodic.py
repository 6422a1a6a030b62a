"""The jobs the worker runs every few seconds, besides the daily digest.

`PERIODIC_JOBS` is the list `tokenboard worker` (or `tokenboard serve` when no worker
runs) hands to the scheduler: add a job here to have it run on an interval in exactly
one kind of process, the one running the jobs. A job must be safe to run in several
processes at once (several serve processes without a worker each run the jobs): claim
its work in Redis, as the digest and the rescoring do.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from bot.boards.leaderboard import REFRESH_EVERY
from bot.intake.scoring import rebuild_scores
from bot.runtime.deps import Deps
from jobs.figures import refresh_figures
from jobs.pulls import TICK_MINUTES, DailyPulls

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    seconds: float  # how often it runs
    run: Callable[[Deps], object]  # exceptions are logged, and it runs again next time
    at_start: bool = True  # also once right away


_rescoring = threading.Lock()


def rescore(deps: Deps) -> None:
    """Rebuild outcome points if a scoring change has not been applied yet: the one left
    by a crash, or saved while no process could run it. One at a time per process;
    `rebuild_points` itself refuses to run twice across processes."""
    if not _rescoring.acquire(blocking=False):
        return  # still running from the last turn: not a problem worth a log line
    try:
        rebuild_scores(deps.store)
    finally:
        _rescoring.release()


def pull_vendors(deps: Deps) -> None:
    """The vendors' admin reports, once a day per source, claimed in Redis (jobs/pulls.py)."""
    DailyPulls(deps).tick()


def sync_teams(deps: Deps) -> None:
    """Teams from Slack user groups (jobs/teams.py), claimed in Redis."""
    from jobs.teams import sync_teams as sync

    sync(deps)


PERIODIC_JOBS: list[PeriodicJob] = [
    PeriodicJob("rescore", 10, rescore),
    # the boards' whole-population figures and shared charts (jobs/figures.py)
    PeriodicJob("figures", REFRESH_EVERY, refresh_figures, at_start=False),
    PeriodicJob("pulls", TICK_MINUTES * 60, pull_vendors),
    PeriodicJob("teams", 60, sync_teams),  # claims one sync per 15 minutes
]
