"""Which sources have reported, and when last (App Home's connect checklist)."""

from __future__ import annotations

import time

from bot.store.workspace import WorkspaceRedis

HEARD_EVERY = 10.0  # seconds between "this source reported" writes per source and process


class Heard:
    def __init__(self, ws: WorkspaceRedis) -> None:
        self.ws = ws
        self._last: dict[str, float] = {}

    def mark(self, source: str) -> None:
        """Remember that `source` (ingest, otlp, github, gitlab, pagerduty, slack) just
        delivered a report; written at most every HEARD_EVERY seconds per process."""
        now = time.time()
        if now - self._last.get(source, 0.0) < HEARD_EVERY:
            return
        self._last[source] = now
        self.ws.r.hset(self.ws.keys.key("heard"), source, round(now, 3))

    def sources(self) -> dict[str, float]:
        """source → when it last delivered a report (epoch s)."""
        return {k.decode(): float(v)
                for k, v in self.ws.r.hgetall(self.ws.keys.key("heard")).items()}
