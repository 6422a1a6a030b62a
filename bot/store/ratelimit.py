"""Per-sender request rate limit for the report endpoints (`/ingest`, OTLP), in Redis.

A generic cell rate algorithm (GCRA) in one Lua script: each sender has one key holding
its "theoretical arrival time". A sender may send `per_minute` requests at once and then
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

log = logging.getLogger(__name__)
WINDOW_MS = 60_000
LOG_EVERY = 60.0  # seconds between "rate limited" log lines per sender and process

# KEYS[1] the sender's key; ARGV[1] ms between requests at the sustained rate;
# ARGV[2] the burst window in ms. Returns -1 (allowed) or the ms to wait.
GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local wait = new_tat - window - now
if wait > 0 then return math.ceil(wait) end
redis.call('SET', KEYS[1], string.format('%.3f', new_tat), 'PX', math.ceil(new_tat - now))
return -1
"""


class RateLimiter:
    """`per_minute` requests per minute per sender across every process; 0 turns it off."""

    def __init__(self, client: redis.Redis, keys: Keys, per_minute: int) -> None:
        self.r = client
        self.keys = keys
        self.per_minute = per_minute
        self._script = client.register_script(GCRA)
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
        wait_ms = int(self._script(keys=[self.keys.rate(sender)], args=[interval, WINDOW_MS]))
        if wait_ms < 0:
            return None
        wait = wait_ms / 1000
        now = time.monotonic()
        if now - self._logged.get(sender, -LOG_EVERY) >= LOG_EVERY:
            self._logged[sender] = now
            log.warning("sender %s is over the rate limit (%d requests a minute); "
                        "refused with Retry-After %d s", sender, per_minute,
                        retry_after(wait))
        return wait


def retry_after(wait: float) -> int:
    """A Retry-After header value (whole seconds, at least 1) for `wait` seconds."""
    return max(1, math.ceil(wait))
