"""`tokenboard worker`: the background jobs, apart from the web processes.

The jobs are the daily digest (jobs/scheduler.py) and the periodic jobs of
jobs/periodic.py (rescoring after a weight change, and whatever else is listed there).
A worker writes a heartbeat key every `HEARTBEAT_SECONDS` (expiring after
`HEARTBEAT_TTL`); `tokenboard serve` runs the same jobs itself while no heartbeat is
live (`EmbeddedJobs`), so a small install is one command, and stops them when a worker
appears. Every job claims its work in Redis, so two processes running them at the same
time (a worker starting while serve still runs them) post and count once.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time

import redis

from bot.core.settings import Settings
from bot.runtime.deps import Deps
from bot.runtime.workspaces import Workspaces

log = logging.getLogger(__name__)
HEARTBEAT_SECONDS = 10
HEARTBEAT_TTL = 30
WORKSPACES_SYNC = 60  # seconds between looks at which workspaces are installed


class Jobs:
    """The digest scheduler with the periodic jobs; `start()` and `stop()` again.

    Installed through "Add to Slack" (`workspaces` given, several workspaces), each
    installed workspace gets its own scheduler (its digest, figures, rescoring, pulls);
    every WORKSPACES_SYNC seconds newly installed ones are added, uninstalled ones
    stopped, and the data of workspaces uninstalled longer than UNINSTALL_GRACE_DAYS
    deleted."""

    def __init__(self, deps: Deps, workspaces: Workspaces | None = None) -> None:
        self.deps = deps
        self.workspaces = workspaces if workspaces is not None and workspaces.multi else None
        self.scheduler = None
        self.schedulers: dict[str, object] = {}
        self._sync_stop: threading.Event | None = None

    @property
    def running(self) -> bool:
        return self.scheduler is not None or self._sync_stop is not None

    def start(self) -> Jobs:
        from jobs.periodic import PERIODIC_JOBS
        from jobs.scheduler import DigestScheduler

        if self.workspaces is not None:
            if self._sync_stop is None:
                self._sync_stop = threading.Event()
                threading.Thread(target=self._sync_loop, args=(self._sync_stop,),
                                 daemon=True, name="workspaces").start()
            return self
        if self.scheduler is None:
            self.scheduler = DigestScheduler(self.deps, periodic=PERIODIC_JOBS).start()
        return self

    def _sync_loop(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.sync_workspaces()
            except Exception:  # Redis away: the next round tries again
                log.exception("could not sync the installed workspaces")
            stop.wait(WORKSPACES_SYNC)

    def sync_workspaces(self) -> list[str]:
        """Start the jobs of newly installed workspaces, stop those of uninstalled ones,
        delete data past its grace period. Returns the workspaces whose jobs run."""
        from jobs.periodic import PERIODIC_JOBS
        from jobs.scheduler import DigestScheduler

        assert self.workspaces is not None
        self.workspaces.forget_due()
        current = {deps.store.ws: deps for deps in self.workspaces.all()}
        for name in [n for n in self.schedulers if n not in current]:
            self.schedulers.pop(name).stop()  # type: ignore[attr-defined]
        for name, deps in current.items():
            if name not in self.schedulers:
                self.schedulers[name] = DigestScheduler(deps, periodic=PERIODIC_JOBS).start()
        return sorted(self.schedulers)

    def stop(self) -> None:
        if self._sync_stop is not None:
            self._sync_stop.set()
            self._sync_stop = None
        for scheduler in self.schedulers.values():
            scheduler.stop()  # type: ignore[attr-defined]
        self.schedulers.clear()
        if self.scheduler is not None:
            self.scheduler.stop()
            self.scheduler = None


class Heartbeat:
    """The key that says a worker is alive: "host pid", refreshed, expiring."""

    def __init__(self, deps: Deps) -> None:
        self.worker = deps.store.worker
        self.me = f"{socket.gethostname()} {os.getpid()}"

    def beat(self) -> None:
        self.worker.beat(self.me, HEARTBEAT_TTL)

    def clear(self) -> None:
        self.worker.clear(self.me)


def live_worker(deps: Deps) -> str | None:
    """The live worker's "host pid", or None."""
    return deps.store.worker.live()


class EmbeddedJobs:
    """`tokenboard serve`'s jobs: run while no worker's heartbeat is live, checked every
    `HEARTBEAT_SECONDS`."""

    def __init__(self, deps: Deps, interval: float = HEARTBEAT_SECONDS,
                 workspaces: Workspaces | None = None) -> None:
        self.jobs = Jobs(deps, workspaces)
        self.interval = interval
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name="jobs")

    def start(self) -> EmbeddedJobs:
        self.thread.start()
        return self

    def _run(self) -> None:
        while True:
            try:
                worker = live_worker(self.jobs.deps)
            except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                log.warning("could not check for a worker (%s); jobs unchanged", exc)
            else:
                if worker and self.jobs.running:
                    log.info("worker %s runs the background jobs; stopped them here", worker)
                    self.jobs.stop()
                elif not worker and not self.jobs.running:
                    log.info("no worker runs: running the background jobs in this process")
                    self.jobs.start()
            if self._stop.wait(self.interval):
                return

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(timeout=5)
        self.jobs.stop()


def run_worker(settings: Settings) -> int:
    """`tokenboard worker`: the jobs and the heartbeat until SIGTERM or SIGINT."""
    from bot.runtime.app import build_client, build_deps, build_workspaces
    from bot.runtime.layout import prepare_layouts, served_stores
    from bot.slack.startup import check_bot_token, forget_slack_secrets

    forget_slack_secrets()
    client = build_client(settings)
    if client is not None:
        check_bot_token(client)  # a refused token stops here
    deps = build_deps(settings)
    workspaces = build_workspaces(settings, deps.store.root) if settings.oauth else None
    heartbeat = Heartbeat(deps)
    stopping: list[int] = []

    def stop(signum: int, _frame: object) -> None:
        stopping.append(signum)  # no logging here: see bot/runtime/serve.py

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    jobs = Jobs(deps, workspaces)
    try:
        prepare_layouts(settings, served_stores(settings, deps.store))
        heartbeat.beat()
        jobs.start()
        log.info("worker %s running the background jobs", heartbeat.me)
        next_beat = time.monotonic() + HEARTBEAT_SECONDS
        while not stopping:
            time.sleep(0.2)
            if time.monotonic() >= next_beat:
                next_beat = time.monotonic() + HEARTBEAT_SECONDS
                try:
                    heartbeat.beat()
                except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                    log.warning("heartbeat not written (%s); retrying", exc)
        log.info("%s: stopping the background jobs", signal.Signals(stopping[0]).name)
    finally:
        jobs.stop()
        try:
            heartbeat.clear()
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            pass  # it expires by itself
        deps.close()
    log.info("stopped")
    return 0
