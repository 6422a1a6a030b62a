"""The vendor connectors' bookkeeping: an unfinished pull's window and next day (resume),
each source's last result, the identities a source reported per day (so a missing row is
withdrawn), the scheduled daily pull's claim and done marker, and which source counts
each tool when none is configured (the first heard)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date

from bot.store import claims
from bot.store.workspace import WorkspaceRedis


class PullState:
    def __init__(self, ws: WorkspaceRedis) -> None:
        self.ws = ws

    # -- one pull -------------------------------------------------------------------------
    def resume(self, source: str) -> str | None:
        """The unfinished pull's saved window (JSON), if one stopped."""
        raw = self.ws.r.hget(self.ws.keys.pull(source), "resume")
        return raw.decode() if raw else None

    def save_resume(self, source: str, document: str) -> None:
        self.ws.r.hset(self.ws.keys.pull(source), "resume", document)

    def clear_resume(self, source: str) -> None:
        self.ws.r.hdel(self.ws.keys.pull(source), "resume")

    def save_last(self, source: str, document: str) -> None:
        """The last pull's result (JSON)."""
        self.ws.r.hset(self.ws.keys.pull(source), "last", document)

    def last(self, sources: Sequence[str]) -> dict[str, str]:
        """source → its last pull's result (JSON), for those that have one."""
        pipe = self.ws.r.pipeline(transaction=False)
        for source in sources:
            pipe.hget(self.ws.keys.pull(source), "last")
        return {s: raw.decode() for s, raw in zip(sources, pipe.execute(), strict=True) if raw}

    # -- the identities a source reported per day -----------------------------------------
    def reported(self, source: str, days: Sequence[date]) -> dict[date, set[str]]:
        """day → the identities `source` reported on it."""
        pipe = self.ws.r.pipeline(transaction=False)
        for day in days:
            pipe.smembers(self.ws.keys.vendor_rows_of_day(source, day))
        return {day: {m.decode() for m in members}
                for day, members in zip(days, pipe.execute(), strict=True)}

    def set_reported(self, source: str, present: Mapping[date, Iterable[str]],
                     ttl: int) -> None:
        """Replace the identities `source` reported on each day of `present`."""
        pipe = self.ws.r.pipeline(transaction=True)
        for day, identities in present.items():
            key = self.ws.keys.vendor_rows_of_day(source, day)
            pipe.delete(key)
            pipe.sadd(key, *identities)
            pipe.expire(key, ttl)
        pipe.execute()

    # -- the scheduled daily pull ---------------------------------------------------------
    def done_on(self, source: str, day: date) -> bool:
        return bool(self.ws.r.exists(self.ws.keys.pull(source, "done", day.isoformat())))

    def mark_done(self, source: str, day: date, ttl: int) -> None:
        self.ws.r.set(self.ws.keys.pull(source, "done", day.isoformat()), "1", ex=ttl)

    def claim(self, source: str, owner: str, ttl: int) -> bool:
        """Take the pull of `source` for `ttl` seconds unless another process holds it."""
        return claims.take(self.ws.r, self.ws.keys.pull(source, "claim"), owner, ttl)

    def release(self, source: str, owner: str) -> None:
        claims.give_back(self.ws.r, self.ws.keys.pull(source, "claim"), owner)

    # -- one source per tool --------------------------------------------------------------
    def tool_source(self, tool: str) -> str | None:
        """The source first heard counting `tool`."""
        raw = self.ws.r.hget(self.ws.keys.tool_sources(), tool)
        return raw.decode() if raw else None

    def claim_tool(self, tool: str, source: str) -> None:
        """`source` counts `tool` unless another source already does."""
        self.ws.r.hsetnx(self.ws.keys.tool_sources(), tool, source)

    def tool_sources(self) -> dict[str, str]:
        """tool → the source first heard counting it."""
        return {k.decode(): v.decode()
                for k, v in self.ws.r.hgetall(self.ws.keys.tool_sources()).items()}
