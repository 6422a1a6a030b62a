"""The identity map's storage: identity (`source:value`) → Slack user links, the days an
unmapped identity has counts kept on, its kept totals for App Home, and the pending
self-service claims (`identity|user` → when). The rules are bot.intake.identities's."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import redis

from bot.store.cached import Guard, VersionedCache
from bot.store.workspace import WorkspaceRedis


@dataclass(frozen=True)
class KeptTotals:
    """What is kept for an identity that maps to nobody yet."""

    identity: str
    tokens: float
    outcomes: float
    last_seen: float | None


class IdentityMap:
    def __init__(self, ws: WorkspaceRedis) -> None:
        self.ws = ws
        self._links = ws.keys.key("ident")
        self._claims = ws.keys.key("claims")
        self.version_key = ws.keys.key("ident", "version")
        self.cache: VersionedCache[str, str | None] = VersionedCache(
            ws.r, self.version_key, self._read, self._parse)

    def _read(self, pipe: redis.client.Pipeline, identities: list[str]) -> None:
        pipe.hmget(self._links, identities)

    @staticmethod
    def _parse(replies: list, identities: list[str]) -> dict[str, str | None]:
        return {i: v.decode() if v else None
                for i, v in zip(identities, replies[0], strict=True)}

    # -- links ----------------------------------------------------------------------------
    def links(self, identities: Sequence[str]) -> dict[str, str]:
        """identity → user, for those of `identities` that are linked (one HMGET)."""
        if not identities:
            return {}
        values = self.ws.r.hmget(self._links, list(identities))
        return {i: v.decode() for i, v in zip(identities, values, strict=True) if v}

    def links_cached(self, identities: Sequence[str]) -> tuple[dict[str, str], Guard]:
        """`links`, from what this process read before at the links' current version
        (`bot.store.cached`), with the guard the counting call checks."""
        values, guard = self.cache.get(identities)
        return {i: u for i, u in values.items() if u}, guard

    def link(self, identity: str, user: str) -> str | None:
        """Link `identity` to `user`; returns who it was linked to before."""
        pipe = self.ws.r.pipeline(transaction=True)
        pipe.hget(self._links, identity)
        pipe.hset(self._links, identity, user)
        pipe.incr(self.version_key)
        previous = pipe.execute()[0]
        return previous.decode() if previous else None

    def unlink(self, identity: str) -> str | None:
        """Forget the link; returns who it pointed to."""
        pipe = self.ws.r.pipeline(transaction=True)
        pipe.hget(self._links, identity)
        pipe.hdel(self._links, identity)
        pipe.incr(self.version_key)
        user = pipe.execute()[0]
        return user.decode() if user else None

    def forget_user(self, user: str) -> int:
        """Remove every link to `user` and their pending claims; how many were removed."""
        links = [key for key, v in self.ws.r.hscan_iter(self._links, count=1000)
                 if v == user.encode()]
        claims = [key for key in self.ws.r.hkeys(self._claims)
                  if key.decode().endswith(f"|{user}")]
        if not links and not claims:
            return 0
        pipe = self.ws.r.pipeline(transaction=True)
        if claims:
            pipe.hdel(self._claims, *claims)
        if links:  # claims are not cached: only removed links move the version
            pipe.hdel(self._links, *links)
            pipe.incr(self.version_key)  # bot.store.cached: links read before
        answers = pipe.execute()
        return sum(answers[:-1] if links else answers)

    def all_links(self) -> list[tuple[str, str]]:
        """(user, identity) of every link, in no order (HSCAN)."""
        return [(v.decode(), k.decode())
                for k, v in self.ws.r.hscan_iter(self._links, count=1000)]

    # -- what is kept for an unmapped identity --------------------------------------------
    def kept_days(self, identity: str) -> list[str]:
        """The days (ISO) `identity` has counts kept on, sorted."""
        return sorted(d.decode() for d in self.ws.r.smembers(
            self.ws.keys.identity_days(identity)))

    def drop_kept_day(self, identity: str, day: str) -> None:
        """The day (ISO) was credited: it is no longer kept for `identity`."""
        self.ws.r.srem(self.ws.keys.identity_days(identity), day)

    def drop_kept_totals(self, identity: str) -> None:
        """`identity` was linked: its kept totals leave App Home's list."""
        keys = self.ws.keys
        pipe = self.ws.r.pipeline(transaction=True)
        pipe.zrem(keys.unmapped("tokens"), identity)
        pipe.zrem(keys.unmapped("outcomes"), identity)
        pipe.hdel(keys.unmapped("last"), identity)
        pipe.execute()

    def kept_totals(self, limit: int) -> tuple[list[KeptTotals], int]:
        """The `limit` identities with the most kept usage (then outcomes; in no order),
        and how many identities have something kept."""
        keys, r = self.ws.keys, self.ws.r
        pipe = r.pipeline(transaction=False)
        pipe.zrevrange(keys.unmapped("tokens"), 0, limit - 1, withscores=True)
        pipe.zrevrange(keys.unmapped("outcomes"), 0, limit - 1, withscores=True)
        by_tokens, by_outcomes = pipe.execute()
        names = list(dict.fromkeys([m.decode() for m, _ in by_tokens]
                                   + [m.decode() for m, _ in by_outcomes]))[:limit]
        if not names:
            return [], 0
        pipe = r.pipeline(transaction=False)
        for name in names:
            pipe.zscore(keys.unmapped("tokens"), name)
            pipe.zscore(keys.unmapped("outcomes"), name)
        scores = pipe.execute()
        last = r.hmget(keys.unmapped("last"), names)
        rows = [KeptTotals(name, scores[2 * i] or 0.0, scores[2 * i + 1] or 0.0,
                           float(last[i]) if last[i] else None) for i, name in enumerate(names)]
        return rows, int(r.hlen(keys.unmapped("last")))

    # -- self-service claims --------------------------------------------------------------
    def claims_of(self, user: str) -> int:
        """How many claims `user` has waiting."""
        return sum(1 for f in self.ws.r.hkeys(self._claims) if f.decode().endswith(f"|{user}"))

    def add_claim(self, identity: str, user: str, at: float) -> None:
        self.ws.r.hset(self._claims, f"{identity}|{user}", at)

    def claims(self) -> list[tuple[float, str, str]]:
        """(when, identity, user) of every pending claim, in no order."""
        out = []
        for field, at in self.ws.r.hgetall(self._claims).items():
            identity, _, user = field.decode().rpartition("|")
            out.append((float(at), identity, user))
        return out

    def remove_claim(self, identity: str, user: str) -> bool:
        """Remove a pending claim; False if there was none."""
        return bool(self.ws.r.hdel(self._claims, f"{identity}|{user}"))
