"""The daily digest's bookkeeping, exactly once per (workspace, channel, day): the claim
(`SET NX EX`), the attempt marker, the posted message's ts, the last error, and the ρ a
digest published (reused by the next day's)."""

from __future__ import annotations

import hashlib
import json
from datetime import date

from bot.store import claims
from bot.store.workspace import WorkspaceRedis, time_now

DIGEST_KEEP = 40 * 86400  # how long "this digest was posted" is remembered


class DigestLedger:
    def __init__(self, ws: WorkspaceRedis) -> None:
        self.ws = ws

    def _key(self, channel: str, day: date, what: str) -> str:
        return self.ws.keys.key("digest", channel, day.isoformat(), what)

    def claim(self, channel: str, day: date, owner: str, ttl: int) -> bool:
        """Take the right to post this digest for `ttl` seconds (expires if we die)."""
        return claims.take(self.ws.r, self._key(channel, day, "claim"), owner, ttl)

    def release(self, channel: str, day: date, owner: str) -> None:
        """Give the claim back, only if it is still ours."""
        claims.give_back(self.ws.r, self._key(channel, day, "claim"), owner)

    def posted(self, channel: str, day: date) -> str | None:
        """The ts of the digest posted in `channel` for `day`, if one was."""
        ts = self.ws.r.get(self._key(channel, day, "posted"))
        return ts.decode() if ts else None

    def mark_attempt(self, channel: str, day: date) -> bool:
        """Record that a post is about to be sent; True if an earlier attempt was recorded."""
        old = self.ws.r.set(self._key(channel, day, "attempt"), "1", ex=DIGEST_KEEP, get=True)
        return old is not None

    def last_posted_at(self) -> float | None:
        """When any digest was last posted (epoch seconds), None if never."""
        value = self.ws.r.get(self.ws.keys.key("digest", "last_at"))
        return float(value) if value else None

    def mark_posted(self, channel: str, day: date, ts: str, last: bool = True) -> None:
        """Record the posted ts; `last`: this is the main digest, whose time the next
        digest's "scoring changes since" starts from."""
        pipe = self.ws.r.pipeline(transaction=True)
        if last:
            pipe.set(self.ws.keys.key("digest", "last_at"), time_now())
        pipe.set(self._key(channel, day, "posted"), ts, ex=DIGEST_KEEP)
        pipe.delete(self._key(channel, day, "claim"))
        pipe.execute()

    def record_published_rho(self, day: date, context: object, rho: float | None) -> None:
        """Keep the ρ a digest published for `day`, tagged with what it was computed under
        (configuration and hidden people), so the next day's digest can reuse it."""
        tag = hashlib.sha1(repr(context).encode()).hexdigest()
        self.ws.r.set(self.ws.keys.key("digest", "rho", day.isoformat()),
                      json.dumps([tag, rho]), ex=DIGEST_KEEP)

    def published_rho(self, day: date, context: object) -> tuple[float | None] | None:
        """(ρ,) as published for `day` under the same context, or None if not known."""
        raw = self.ws.r.get(self.ws.keys.key("digest", "rho", day.isoformat()))
        if not raw:
            return None
        tag, rho = json.loads(raw)
        if tag != hashlib.sha1(repr(context).encode()).hexdigest():
            return None
        return (rho,)

    def set_error(self, message: str, channel: str = "", day: date | None = None) -> None:
        """Show `message` to admins; with channel and day, also stop automatic retries of
        that digest (a manual `tokenboard digest` still tries)."""
        pipe = self.ws.r.pipeline(transaction=True)
        pipe.set(self.ws.keys.key("digest", "error"), message)
        if channel and day:
            pipe.set(self._key(channel, day, "failed"), message, ex=DIGEST_KEEP)
        pipe.execute()

    def failed(self, channel: str, day: date) -> bool:
        return bool(self.ws.r.exists(self._key(channel, day, "failed")))

    def clear_error(self) -> None:
        self.ws.r.delete(self.ws.keys.key("digest", "error"))

    def error(self) -> str | None:
        value = self.ws.r.get(self.ws.keys.key("digest", "error"))
        return value.decode() if value else None
