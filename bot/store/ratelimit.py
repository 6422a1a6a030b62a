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
RATE_GUARD = "gcra:"  # a counting call's guard value that is the sender's rate instead


class OverRate(Exception):
    """The sender is over its rate: nothing of the request was counted; retry in `wait`
    seconds."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"over the rate limit; retry in {wait:.3f} s")
        self.wait = wait


def is_rate_guard(guard: tuple[str, str]) -> bool:
    return guard[1].startswith(RATE_GUARD)


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
        self._until: dict[str, float] = {}  # sender → when it may send again (monotonic)

    def limit(self, per_minute: int | None = None) -> int:
        """The requests a minute a sender may send (`per_minute`: its token's own)."""
        return self.per_minute if per_minute is None else per_minute

    def guard(self, sender: str, per_minute: int | None = None) -> tuple[str, str] | None:
        """The counting call's guard that counts one request of `sender` against its rate
        in the same round trip as the counting (lua/record.lua; OverRate when refused);
        None when the sender is not limited."""
        per_minute = self.limit(per_minute)
        if per_minute <= 0:
            return None
        return self.keys.rate(sender), f"{RATE_GUARD}{WINDOW_MS / per_minute!r}:{WINDOW_MS}"

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
        self.refused(sender, wait, per_minute)
        return wait

    def waiting(self, sender: str) -> float | None:
        """The seconds `sender`, refused lately by this process, must still wait; None
        when it may send (this process then asks Redis)."""
        until = self._until.get(sender)
        if until is None:
            return None
        wait = until - time.monotonic()
        if wait > 0:
            return wait
        self._until.pop(sender, None)
        return None

    def refused(self, sender: str, wait: float, per_minute: int | None = None) -> None:
        """Remember that `sender` was refused for `wait` seconds (`waiting`), and log it
        once a minute per sender and process."""
        now = time.monotonic()
        self._until[sender] = now + wait
        if now - self._logged.get(sender, -LOG_EVERY) >= LOG_EVERY:
            self._logged[sender] = now
            log.warning("sender %s is over the rate limit (%d requests a minute); "
                        "refused with Retry-After %d s", sender, self.limit(per_minute),
                        retry_after_header(wait))


def retry_after_header(wait: float) -> int:
    """A Retry-After header value (whole seconds, at least 1) for `wait` seconds."""
    return max(1, math.ceil(wait))
