"""Redis Cluster: telling a cluster from a single server, and a client for one
workspace's hash slot.

Every key of a workspace carries the hash tag `tb:{<workspace>}:` (bot.store.keys), so all of
them live in one slot, on one primary. redis-py's cluster pipeline refuses EVALSHA (and
RENAME, MGET, SCAN…), but a workspace never needs more than one node: `SlotClient` is a
plain `redis.Redis` on the primary that owns the workspace's slot, so pipelines of Lua
scripts, MULTI/EXEC and SCAN work there unchanged. When the slot moves (a failover, a
resharding: MOVED, CLUSTERDOWN, TRYAGAIN or a dropped connection) it asks the cluster for
its current layout and sends the command or pipeline once more to the new owner; if that
fails too, the caller gets `redis.ConnectionError` (an answer of 503 + Retry-After), like a
Redis that is down. Resending is safe for what tokenboard sends: a refused command (MOVED)
did not run, and the counting scripts deduplicate on their markers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

import redis
from redis.client import Pipeline
from redis.cluster import RedisCluster
from redis.exceptions import AskError, ClusterDownError, TryAgainError

T = TypeVar("T")
# what a slot that moved, or a primary that went away, looks like from a node client
MOVED = (AskError, ClusterDownError, TryAgainError, redis.ConnectionError)


def is_cluster(url: str, timeout: float) -> bool:
    """Whether the server at `url` runs with `cluster-enabled yes` (INFO cluster)."""
    client = redis.Redis.from_url(url, socket_timeout=timeout,
                                  socket_connect_timeout=timeout)
    try:
        return bool(client.info("cluster").get("cluster_enabled"))
    finally:
        client.close()


class SlotClient(redis.Redis):
    """A `redis.Redis` for the primary owning the hash slot of `key`, following the slot.

    `timeout` (seconds) gives this client connections of its own with that socket
    timeout; without it, it shares the cluster client's connection pool of the node.
    """

    def __init__(self, cluster: RedisCluster, key: str, timeout: float | None = None) -> None:
        self.cluster = cluster
        self.slot_key = key
        self.timeout = timeout
        self._pools: dict[str, redis.ConnectionPool] = {}
        self._lock = threading.Lock()
        super().__init__(connection_pool=self._owner_pool())

    def _owner_pool(self) -> redis.ConnectionPool:
        node = self.cluster.get_node_from_key(self.slot_key)
        shared = self.cluster.get_redis_connection(node).connection_pool
        if self.timeout is None:
            return shared
        with self._lock:
            if node.name not in self._pools:
                self._pools[node.name] = redis.ConnectionPool(
                    connection_class=shared.connection_class,
                    **{**shared.connection_kwargs, "socket_timeout": self.timeout,
                       "socket_connect_timeout": self.timeout})
            return self._pools[node.name]

    def with_timeout(self, seconds: float) -> SlotClient:
        """The same slot, with connections that wait at most `seconds`."""
        return SlotClient(self.cluster, self.slot_key, seconds)

    def follow(self) -> None:
        """Read the cluster's layout again and point at the slot's current primary."""
        self.cluster.nodes_manager.initialize()
        self.connection_pool = self._owner_pool()

    def following(self, run: Callable[[], T]) -> T:
        """`run()`, and once more on the slot's current primary if the slot moved."""
        try:
            return run()
        except MOVED:
            pass
        try:
            self.follow()
            return run()
        except MOVED as exc:
            raise redis.ConnectionError(
                f"Redis Cluster: the primary of slot {self.cluster.keyslot(self.slot_key)} "
                f"did not answer ({type(exc).__name__}: {exc})") from exc
        except redis.exceptions.RedisClusterException as exc:  # no node covers the slot
            raise redis.ConnectionError(f"Redis Cluster: {exc}") from exc

    def execute_command(self, *args: Any, **options: Any) -> Any:
        return self.following(lambda: super(SlotClient, self).execute_command(*args, **options))

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> SlotPipeline:
        return SlotPipeline(self, transaction)

    def close(self) -> None:
        super().close()
        for pool in self._pools.values():
            pool.disconnect()


class SlotPipeline(Pipeline):
    """A pipeline on the slot's primary; if the slot moved, the same commands are sent
    once more to the new primary."""

    def __init__(self, owner: SlotClient, transaction: bool) -> None:
        super().__init__(owner.connection_pool, owner.response_callbacks, transaction, None)
        self.owner = owner

    def execute(self, raise_on_error: bool = True) -> list[Any]:
        stack, scripts, first = list(self.command_stack), set(self.scripts), [True]

        def run() -> list[Any]:
            if not first[0]:  # a resend: execute() reset the pipeline
                self.connection_pool = self.owner.connection_pool
                self.command_stack, self.scripts = list(stack), set(scripts)
            first[0] = False
            return Pipeline.execute(self, raise_on_error)

        return self.owner.following(run)


def workspace_client(client: redis.Redis | RedisCluster, key: str) -> redis.Redis:
    """The client to use for keys sharing `key`'s hash tag: `client` itself on a single
    Redis, a `SlotClient` on a cluster."""
    if isinstance(client, RedisCluster):
        return SlotClient(client, key)
    return client


def own_connections(client: redis.Redis) -> redis.Redis:
    """A client on the same Redis server as `client` with a connection pool of its own
    (for a process that forks, or jobs that must not share the web workers' pool)."""
    pool = client.connection_pool
    return redis.Redis(connection_pool=redis.ConnectionPool(
        connection_class=pool.connection_class, **pool.connection_kwargs))
