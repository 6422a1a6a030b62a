"""The heartbeat of the live `tokenboard worker`: "host pid", refreshed, expiring; while
it is set, serve runs no jobs."""

from __future__ import annotations

from bot.store.workspace import WorkspaceRedis


class WorkerBeat:
    def __init__(self, ws: WorkspaceRedis) -> None:
        self.ws = ws

    def beat(self, me: str, ttl: int) -> None:
        self.ws.r.set(self.ws.keys.worker_heartbeat(), me, ex=ttl)

    def clear(self, me: str) -> None:
        """Remove the heartbeat if it is `me`'s."""
        key = self.ws.keys.worker_heartbeat()
        if self.ws.r.get(key) == me.encode():
            self.ws.r.delete(key)

    def live(self) -> str | None:
        """The live worker's "host pid", or None."""
        value = self.ws.r.get(self.ws.keys.worker_heartbeat())
        return value.decode() if value else None
