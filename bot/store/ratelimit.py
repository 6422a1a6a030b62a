"""Per-sender request rate limit for the report endpoints (`/ingest`, OTLP), in Redis.

A generic cell rate algorithm (GCRA) in one Lua script (lua/gcra.lua): each sender has one
key holding its "theoretical arrival time". A sender may send `per_minute` requests at once and then
`per_minute` a minute, evenly spread; one more is refused with the seconds until it would
be accepted. The clock is Redis's own (`TIME`), so every web process shares one limit per
sender whatever its own clock says.
"""

from __future__ import annotations

import logging
import math
import time

import redis

from bot.store.keys import Keys
from bot.store.lua import Call, Script

log = logging.getLogger(__name__)
WINDOW_MS = 60_000
LOG_EVERY = 60.0  # seconds between "rate limited" log lines per sender and process

GCRA = Script("gcra")


def gcra_call(*, sender_key: str, interval_ms: float, window_ms: int) -> Call:
    """lua/gcra.lua: one request of the sender whose state is `sender_key`."""
    return Call([sender_key], [interval_ms, window_ms])


class RateLimiter:
    """`per_minute` requests per minute per sender across every process; 0 turns it off."""

    def __init__(self, client: redis.Redis, keys: Keys, per_minute: int) -> None:
        self.r = client
        self.keys = keys
        self.per_minute = per_minute
        self._logged: dict[str, float] = {}

    def check(self, sender: str, per_minute: int | None = None) -> float | None:
        """Count one request of `sender`: None if it may go ahead, else the seconds to wait.
        `per_minute` overrides the default for this sender (its token's own limit).

        A refused request is not counted. Redis errors propagate (the caller answers 503).
        """
        per_minute = self.per_minute if per_minute is None else per_minute
        if per_minute <= 0:
            return None
        interval = WINDOW_MS / per_minute
        wait_ms = int(GCRA.run(self.r, gcra_call(sender_key=self.keys.rate(sender),
                                                  interval_ms=interval, window_ms=WINDOW_MS)))
        if wait_ms < 0:
            return None
        wait = wait_ms / 1000
        now = time.monotonic()
        if now - self._logged.get(sender, -LOG_EVERY) >= LOG_EVERY:
            self._logged[sender] = now
            log.warning("sender %s is over the rate limit (%d requests a minute); "
                        "refused with Retry-After %d s", sender, per_minute,
                        retry_after_header(wait))
        return wait


def retry_after_header(wait: float) -> int:
    """A Retry-After header value (whole seconds, at least 1) for `wait` seconds."""
    return max(1, math.ceil(wait))
