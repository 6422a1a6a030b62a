"""Uninstalled workspaces: when each one's data is to be deleted (`tb:{install}:<app>:
leaving`), and deleting it (every key shares the workspace's hash tag)."""

from __future__ import annotations

import redis
from redis.cluster import RedisCluster

from bot.store.keys import InstallKeys, Keys

DELETE_BATCH = 500


class Departures:
    def __init__(self, client: redis.Redis | RedisCluster, client_id: str = "") -> None:
        self.r = client
        self._key = InstallKeys(client_id).leaving()

    def schedule(self, workspace: str, due: float) -> None:
        """Delete `workspace`'s data at `due` (epoch s)."""
        self.r.hset(self._key, workspace, due)

    def cancel(self, workspace: str) -> bool:
        """Keep `workspace`'s data; False if no deletion was pending."""
        return bool(self.r.hdel(self._key, workspace))

    def pending(self) -> dict[str, float]:
        """workspace → when its data is deleted."""
        return {k.decode(): float(v) for k, v in self.r.hgetall(self._key).items()}

    def delete(self, workspace: str) -> int:
        """Delete every key of `workspace` now and its pending deletion; how many keys."""
        removed = delete_workspace_data(self.r, workspace)
        self.r.hdel(self._key, workspace)
        return removed


def delete_workspace_data(client: redis.Redis | RedisCluster, workspace: str) -> int:
    """UNLINK every key of `workspace` (all share its hash tag), in batches."""
    removed = 0
    batch: list[bytes] = []
    for key in client.scan_iter(match=Keys(workspace).key("*"), count=DELETE_BATCH):
        batch.append(key)
        if len(batch) >= DELETE_BATCH:
            removed += client.unlink(*batch)
            batch = []
    if batch:
        removed += client.unlink(*batch)
    return removed
