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
from bot.intake.tool_sources import LABELS, holders
from bot.render.blocks import code_span, escape
from bot.runtime.deps import Deps
from bot.slack.first_run import ago

log = logging.getLogger(__name__)
PULL_HOUR = 2  # UTC: the vendors have the day before ready by then
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


def status_lines(deps: Deps, now: float | None = None) -> list[str]:
    """For admins on App Home (mrkdwn, vendor text escaped): each configured connector's
    last pull, and which source counts each tool that arrives by several."""
    sources = vendors.configured(deps.settings)
    lines = []
    if sources:
        last = runner.last_results(deps.store, sources)
        for source in sources:
            result = last.get(source)
            if result is None:
                lines.append(f"• {source}: not pulled yet (daily after {PULL_HOUR:02d}:00 UTC, "
                             f"or {code_span('tokenboard pull ' + source)})")
                continue
            when = ago((now or time.time()) - result.finished)
            text = (f"• {source}: last pull {when}, {result.rows:,} rows, {result.people:,} "
                    f"people, {result.changed:,} new or changed")
            if result.unmapped:
                text += f", {len(result.unmapped)} unmapped"
            if result.rejected:
                text += f", {result.rejected} rejected"
            if result.no_data:
                text += f" — no data: {escape(result.no_data_text())}"
            if result.skipped:
                text += f" — skipped: {escape(result.skipped)}"
            if result.error:
                text += f" — :warning: stopped, resumes next time: {escape(result.error[:300])}"
            lines.append(text)
    config = deps.store.configs.load()
    for tool, (source, named) in sorted(holders(deps.store, config).items()):
        how = "set in the configuration" if named else "the first source heard from"
        lines.append(f"• {tool} counts from {LABELS.get(source, source)} ({how}; "
                     "tool_sources in the configuration changes it)")
    return (["*Admin usage reports*"] + lines) if lines else []
