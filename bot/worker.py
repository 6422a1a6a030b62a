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

from bot.deps import Deps
from bot.settings import Settings

log = logging.getLogger(__name__)
HEARTBEAT_SECONDS = 10
HEARTBEAT_TTL = 30


class Jobs:
    """The digest scheduler with the periodic jobs; `start()` and `stop()` again."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.scheduler = None

    @property
    def running(self) -> bool:
        return self.scheduler is not None

    def start(self) -> Jobs:
        from jobs.periodic import PERIODIC_JOBS
        from jobs.scheduler import DigestScheduler

        if self.scheduler is None:
            self.scheduler = DigestScheduler(self.deps, periodic=PERIODIC_JOBS).start()
        return self

    def stop(self) -> None:
        if self.scheduler is not None:
            self.scheduler.stop()
            self.scheduler = None


class Heartbeat:
    """The key that says a worker is alive: "host pid", refreshed, expiring."""

    def __init__(self, deps: Deps) -> None:
        self.r = deps.store.r
        self.key = deps.store.keys.worker_heartbeat()
        self.me = f"{socket.gethostname()} {os.getpid()}"

    def beat(self) -> None:
        self.r.set(self.key, self.me, ex=HEARTBEAT_TTL)

    def clear(self) -> None:
        if self.r.get(self.key) == self.me.encode():
            self.r.delete(self.key)


def live_worker(deps: Deps) -> str | None:
    """The live worker's "host pid", or None."""
    value = deps.store.r.get(deps.store.keys.worker_heartbeat())
    return value.decode() if value else None


class EmbeddedJobs:
    """`tokenboard serve`'s jobs: run while no worker's heartbeat is live, checked every
    `HEARTBEAT_SECONDS`."""

    def __init__(self, deps: Deps, interval: float = HEARTBEAT_SECONDS) -> None:
        self.jobs = Jobs(deps)
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
    from bot.app import build_client, build_deps
    from bot.startup import check_bot_token, forget_slack_secrets

    forget_slack_secrets()
    client = build_client(settings)
    if client is not None:
        check_bot_token(client)  # a refused token stops here
    deps = build_deps(settings)
    heartbeat = Heartbeat(deps)
    stopping: list[int] = []

    def stop(signum: int, _frame: object) -> None:
        stopping.append(signum)  # no logging here: see bot/serve.py

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    jobs = Jobs(deps)
    try:
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
