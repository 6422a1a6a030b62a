"""Whole-population figures per period (JSON, see bot.core.population), the periods being
read (noted by lua/top.lua, refreshed in the background), and the claim that lets one
process refresh a period at a time."""

from __future__ import annotations

from bot.core.periods import Bucket
from bot.store.workspace import WorkspaceRedis


class Figures:
    def __init__(self, ws: WorkspaceRedis) -> None:
        self.ws = ws

    def get(self, bucket: Bucket) -> bytes | None:
        return self.ws.r.get(self.ws.keys.population(bucket.scope, bucket.name))

    def put(self, bucket: Bucket, document: str, ttl: int) -> None:
        self.ws.r.set(self.ws.keys.population(bucket.scope, bucket.name), document, ex=ttl)

    def read_since(self, since: float) -> list[str]:
        """The periods (`<period>|<scope>:<name>`) read since `since` (epoch s); those
        read before are forgotten."""
        key = self.ws.keys.population_wanted()
        self.ws.r.zremrangebyscore(key, "-inf", since)
        return [raw.decode() for raw in self.ws.r.zrange(key, 0, -1)]

    def claim_refresh(self, bucket: Bucket, owner: str, ttl: int) -> bool:
        """Take the refresh of `bucket`'s figures for `ttl` seconds unless taken."""
        return bool(self.ws.r.set(self.ws.keys.population_claim(bucket.scope, bucket.name),
                                  owner or "1", nx=True, ex=ttl))
