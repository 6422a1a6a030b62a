"""Shared plumbing for the benchmarks: a private Redis, the Slack stub, the real app.

Every benchmark starts its own redis-server (EmbeddedRedis on a free 127.0.0.1 port in
a temporary directory) and its own SlackStub, and stops both when done. Benchmarks
print figures; they never assert on timings.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import io
import json
import math
import os
import platform
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import redis

from bot.core.settings import Settings
from bot.runtime.app import build_bolt_app, build_deps
from bot.runtime.deps import Deps
from bot.store.embedded import EmbeddedRedis, free_port
from bot.web.app import build_web_app
from bot.web.server import Server
from tests.slack_signing import sign, slash_command_body
from tests.slack_stub import SlackStub

SIGNING_SECRET = "bench-signing-secret"
BOT_TOKEN = "xoxb-bench"
INGEST_TOKEN = "bench-ingest-token"
WORKSPACE = "default"


def parse_args(description: str, argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true",
                        help="smaller sizes (a smoke run, figures not comparable)")
    return parser.parse_args(argv)


# -- statistics -----------------------------------------------------------------------

def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100); with 30 samples p99 is the maximum."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.2f} ms"


def machine() -> str:
    model = platform.processor() or "?"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            if line.lower().startswith("model name"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    cores = subprocess.run(["nproc"], capture_output=True, text=True,
                           check=False).stdout.strip() or "?"
    load = os.getloadavg()[0]
    return f"{cores} cores, {model}, Python {platform.python_version()}, load {load:.2f}"


def code_version() -> str:
    """The commit measured, and whether bot/ or handlers/ had uncommitted changes."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], capture_output=True, text=True,
                                  check=False, cwd=Path(__file__).resolve().parent.parent
                                  ).stdout.strip()
        except OSError:
            return ""
    commit = git("rev-parse", "--short", "HEAD") or "?"
    dirty = git("status", "--porcelain", "--", "bot", "handlers")
    return f"commit {commit}{' + uncommitted changes in bot/handlers' if dirty else ''}"


# -- processes and threads --------------------------------------------------------------

def stop_processes(*procs: subprocess.Popen, timeout: float = 20) -> None:
    """SIGTERM to each process still running (a graceful stop), then wait up to `timeout`
    seconds for each; one that is still there is killed."""
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (and its reaped children), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    ticks = os.sysconf("SC_CLK_TCK")
    return sum(int(x) for x in fields[11:15]) / ticks


def run_concurrently(work: Sequence[Callable[[], None]]) -> float:
    """Each function on a thread of its own, all at once; seconds until the last is done
    (the first exception raised in any is raised again)."""
    errors: list[BaseException] = []

    def wrap(fn: Callable[[], None]) -> None:
        try:
            fn()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=wrap, args=(fn,)) for fn in work]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return elapsed


# -- Redis ------------------------------------------------------------------------------

@contextlib.contextmanager
def private_redis(start_timeout: float = 10.0) -> Iterator[tuple[EmbeddedRedis, redis.Redis]]:
    """A fresh redis-server in a temp dir; RDB snapshots off so a fork cannot skew timings."""
    with tempfile.TemporaryDirectory(prefix="tokenboard-bench-") as tmp:
        server = EmbeddedRedis(Path(tmp) / "redis", port=free_port(),
                               appendonly=False).start(timeout=start_timeout)
        client = redis.Redis.from_url(server.url)
        try:
            client.config_set("save", "")
            yield server, client
        finally:
            client.close()
            server.stop()


def redis_version(client: redis.Redis) -> str:
    version = client.info("server")["redis_version"]
    allocator = client.info("memory").get("mem_allocator", "?")
    return f"Redis {version} (allocator {allocator})"


def command_stats(client: redis.Redis) -> dict[str, int]:
    """calls per command name from INFO commandstats."""
    stats = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}


def stats_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: after[k] - before.get(k, 0) for k in after if after[k] - before.get(k, 0)}


class CountingConnection(redis.Connection):
    """Counts writes to the socket: one per command, one per pipeline (= round trips)."""

    sends = 0
    lock = threading.Lock()

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        with CountingConnection.lock:
            CountingConnection.sends += 1
        super().send_packed_command(command, check_health)


def counting_client(url: str) -> redis.Redis:
    parts = urlsplit(url)
    pool = redis.ConnectionPool(connection_class=CountingConnection, host=parts.hostname,
                                port=parts.port, db=0, socket_timeout=10,
                                socket_connect_timeout=2)
    return redis.Redis(connection_pool=pool)


# -- the app ----------------------------------------------------------------------------

@dataclass
class RunningApp:
    deps: Deps
    server: Server
    url: str
    wsgi: Any  # the Flask app

    @property
    def port(self) -> int:
        return self.server.port

    def stop(self) -> None:
        self.server.stop()


def app_settings(redis_url: str, stub_url: str, data_dir: Path) -> Settings:
    """The settings the benchmarks run the app with: the stub's Slack, one sender's token,
    no rate limit."""
    return Settings(
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=stub_url,
        redis_url=redis_url,
        data_dir=data_dir,
        ingest_tokens=(INGEST_TOKEN,), ingest_rate_limit=0,  # benchmarks measure, not throttle
        timezone="UTC",
        workspace=WORKSPACE,
    )


def start_app(redis_url: str, stub: SlackStub, data_dir: Path,
              redis_client: redis.Redis | None = None, threads: int = 8) -> RunningApp:
    """The real app (build_deps → Bolt → Flask) behind one gunicorn worker of
    `tokenboard serve`, in process."""
    settings = app_settings(redis_url, stub.url, data_dir)
    deps = build_deps(settings, redis_client or redis.Redis.from_url(
        redis_url, socket_timeout=10, socket_connect_timeout=2))
    wsgi = build_web_app(deps, build_bolt_app(deps))
    server = Server(wsgi, threads=threads).start()
    return RunningApp(deps=deps, server=server, url=server.url, wsgi=wsgi)


@contextlib.contextmanager
def slack_stub() -> Iterator[SlackStub]:
    with SlackStub(token=BOT_TOKEN) as stub:
        yield stub


class TimedResponses(list):
    """Replaces the stub's response log so each response_url POST gets an arrival time."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived: dict[str, list[float]] = {}
        self.cond = threading.Condition()

    def append(self, item: Any) -> None:  # called under the stub's lock
        now = time.perf_counter()
        super().append(item)
        with self.cond:
            self.arrived.setdefault(item[0], []).append(now)
            self.cond.notify_all()

    def wait(self, name: str, timeout: float = 60.0) -> float:
        deadline = time.monotonic() + timeout
        with self.cond:
            while name not in self.arrived:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no response at response_url {name!r}")
                self.cond.wait(left)
            return self.arrived[name][0]


def time_responses(stub: SlackStub) -> TimedResponses:
    timed = TimedResponses()
    with stub._lock:
        timed.extend(stub._state.responses)
        stub._state.responses = timed
    return timed


class KeepAlive:
    """One persistent HTTP/1.1 connection to a local server."""

    def __init__(self, port: int, timeout: float = 120.0) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        self.conn.request("POST", path, body=body, headers=headers)
        resp = self.conn.getresponse()
        return resp.status, resp.read()

    def close(self) -> None:
        self.conn.close()


def signed_command(text: str, response_url: str, user_id: str = "U0VIEWER",
                   ) -> tuple[bytes, dict[str, str]]:
    body = slash_command_body(text=text, user_id=user_id, response_url=response_url)
    headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body, SIGNING_SECRET)}
    return body.encode(), headers


def post_environ(path: str, body: bytes, content_type: str) -> dict[str, Any]:
    """The WSGI environ of a POST of `body` to `path` with the sender's token: a request
    to the app called in process, without HTTP."""
    return {"PATH_INFO": path, "REQUEST_METHOD": "POST", "CONTENT_LENGTH": str(len(body)),
            "CONTENT_TYPE": content_type, "wsgi.input": io.BytesIO(body),
            "wsgi.url_scheme": "http", "SERVER_NAME": "bench", "SERVER_PORT": "80",
            "HTTP_AUTHORIZATION": f"Bearer {INGEST_TOKEN}"}


def ingest_body(events: list[dict]) -> bytes:
    return json.dumps({"events": events}).encode()


INGEST_HEADERS = {"Content-Type": "application/json",
                  "Authorization": f"Bearer {INGEST_TOKEN}"}
