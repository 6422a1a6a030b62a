"""bot.store.ratelimit: the per-sender rate limit is one limit for every process (real Redis)."""

from __future__ import annotations

from bot.store.keys import Keys
from bot.store.ratelimit import RateLimiter


def test_the_limit_is_shared_by_every_process_and_zero_is_off(redis_client) -> None:
    keys = Keys("default")
    one, two = RateLimiter(redis_client, keys, 10), RateLimiter(redis_client, keys, 10)
    answers = [(one if i % 2 else two).check("tool-a") for i in range(10)]
    assert answers == [None] * 10
    wait = one.check("tool-a")
    assert wait is not None and 0 < wait <= 6.0  # one request every 6 s at 10 a minute
    assert two.check("tool-a") is not None
    assert one.check("tool-b") is None
    off = RateLimiter(redis_client, keys, 0)
    assert [off.check("tool-a") for _ in range(100)] == [None] * 100
    # The state expires once the sender would be back to a full allowance (60 s).
    ttl = redis_client.pttl("tb:{default}:rate:tool-a")
    assert 54_000 < ttl <= 60_000, ttl
