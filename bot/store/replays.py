"""Accepted Slack request signatures, each remembered until it can no longer be valid, so
a replayed request is not run again (`SET NX EX`, on a client of its own that waits only
briefly: the caller fails open when Redis is slow)."""

from __future__ import annotations

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from bot.store.cluster import SlotClient
from bot.store.keys import Keys


def with_timeout(client: redis.Redis, seconds: float) -> redis.Redis:
    """A client for the same server as `client`, waiting at most `seconds`, no retries
    (on a Redis Cluster: for the same slot, following it)."""
    if isinstance(client, SlotClient):
        return client.with_timeout(seconds)
    pool = client.connection_pool
    kwargs = {**pool.connection_kwargs, "socket_timeout": seconds,
              "socket_connect_timeout": seconds, "retry": Retry(NoBackoff(), 0)}
    return redis.Redis(connection_pool=redis.ConnectionPool(
        connection_class=pool.connection_class, max_connections=64, **kwargs))


class Replays:
    def __init__(self, client: redis.Redis, keys: Keys, timeout: float) -> None:
        self.r = with_timeout(client, timeout)
        self.keys = keys

    def first_time(self, signature: str, ttl: int) -> bool:
        """Remember `signature` for `ttl` seconds; True if it was not remembered yet.
        Redis errors propagate (after at most the timeout)."""
        return bool(self.r.set(self.keys.replay(signature), 1, nx=True, ex=ttl))

    def close(self) -> None:
        self.r.close()
