"""What a process keeps of Redis between reports: the configuration, bearer tokens →
senders, identity links. Each is kept with the version it was read at (a counter that
every change bumps in the same MULTI); the counting script (`lua/record.lua`) is handed
those versions (`Guard`s) and counts nothing when one has moved, so a stale cache is
found out by the very call that would have used it, and the report is read afresh and
counted again (`bot.intake.count.StaleCaches`). In steady state a report then costs one
Redis round trip: the counting call.

A version key that is missing reads as "0"; a cache creates it with a random start
(`SET NX`), so deleting a workspace's keys can never bring a cached version back.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Hashable, Iterable
from typing import Any, Generic, TypeVar

import redis

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
Guard = tuple[str, str]  # (version key, the value it held when what was cached was read)
KEPT = 100_000  # entries a cache holds before it starts afresh


class VersionedCache(Generic[K, V]):
    """Values read from Redis at one version of `version_key`. `read(pipe, keys)` queues
    the reads of `keys` on a MULTI pipeline and `parse(replies, keys)` turns their
    replies into {key: value} (every key of `keys`, None when there is nothing)."""

    def __init__(self, client: redis.Redis, version_key: str,
                 read: Callable[[Any, list[K]], None],
                 parse: Callable[[list[Any], list[K]], dict[K, V]]) -> None:
        self.r, self.version_key = client, version_key
        self._read, self._parse = read, parse
        self._values: dict[K, V] = {}
        self._version: str | None = None
        self._lock = threading.Lock()

    def get(self, keys: Iterable[K]) -> tuple[dict[K, V], Guard]:
        """{key: value} for every key, and the guard of the version they were read at:
        from memory when all are there, else all read in one MULTI with the version."""
        wanted = list(dict.fromkeys(keys))
        with self._lock:
            version = self._version
            if version is not None and all(k in self._values for k in wanted):
                return {k: self._values[k] for k in wanted}, (self.version_key, version)
        pipe = self.r.pipeline(transaction=True)
        pipe.set(self.version_key, secrets.randbelow(2**48) + 1, nx=True)
        pipe.get(self.version_key)
        self._read(pipe, wanted)
        replies = pipe.execute()
        version = replies[1].decode()
        values = self._parse(replies[2:], wanted)
        with self._lock:
            if version != self._version or len(self._values) >= KEPT:
                self._values, self._version = {}, version
            self._values.update(values)
        return values, (self.version_key, version)

    def forget(self) -> None:
        """Drop everything (the next `get` reads Redis)."""
        with self._lock:
            self._values, self._version = {}, None
