"""The daily pull of every configured vendor connector, exactly once across processes.

Every process that runs scheduled jobs ticks every TICK_MINUTES; from PULL_HOUR (UTC)
on, the first tick that claims a source pulls its default window (the last days up to
yesterday). A pull that finishes marks the day done; one that fails leaves no mark, so
a later tick resumes it where it stopped (`bot.connectors.runner`). The claim in Redis
(like the digest's) expires if its process dies."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime

from bot.connectors import runner, vendors
from bot.connectors.vendors import PULL_HOUR
from bot.runtime.deps import Deps

log = logging.getLogger(__name__)
TICK_MINUTES = 15
CLAIM_TTL = 2 * 3600
DONE_TTL = 3 * 86400


class DailyPulls:
    def __init__(self, deps: Deps, sleep: Callable[[float], None] = time.sleep) -> None:
        self.deps = deps
        self.sleep = sleep
        self.owner = uuid.uuid4().hex

    def tick(self, now: datetime | None = None) -> dict[str, runner.PullResult]:
        """Pull each configured source not yet pulled today; never raises."""
        now = now or datetime.now(UTC)
        results: dict[str, runner.PullResult] = {}
        if now.hour < PULL_HOUR:
            return results
        for source in vendors.configured(self.deps.settings):
            try:
                result = self.pull(source, now.date())
            except Exception:
                log.exception("scheduled %s pull failed", source)
                continue
            if result:
                results[source] = result
        return results

    def pull(self, source: str, today: date) -> runner.PullResult | None:
        """Pull `source` for `today` unless it is done or another process holds it."""
        store = self.deps.store
        if store.pulls.done_on(source, today):
            return None
        if not store.pulls.claim(source, self.owner, CLAIM_TTL):
            return None
        try:
            if store.pulls.done_on(source, today):  # finished elsewhere between our two reads
                return None
            since, until = runner.default_window(today)
            stopped = runner.unfinished(store, source)
            if stopped and stopped < since:  # an earlier day's pull stopped before these
                since = stopped
            connector = vendors.build(self.deps.settings, source, sleep=self.sleep)
            result = runner.run_pull(store, self.deps.identities, connector, since, until,
                                     today=today)
            if result.error:
                log.warning("scheduled %s pull stopped (resumes next time): %s", source,
                            result.error)
            else:
                store.pulls.mark_done(source, today, DONE_TTL)
            return result
        finally:
            store.pulls.release(source, self.owner)


