"""The web servers `bench.servers` compares, each around the WSGI app `tokenboard serve`
builds, as processes: how each is started (`command`, with one environment for all,
`server_env`), the running process tree (`Running`: its pids, CPU seconds and resident
memory from /proc), and GET /healthz.

- `gunicorn`: `python -m bot serve` itself;
- `granian`: `python -m granian --interface wsgi --factory bench.wsgi_servers:wsgi_app`;
- `uvicorn`: uvicorn in front of a2wsgi's WSGI-to-ASGI adapter, in one process
  (`python -m bench.wsgi_servers --port N --threads T`, `run_uvicorn`).
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench._common import (
    BOT_TOKEN,
    INGEST_TOKEN,
    SIGNING_SECRET,
    WORKSPACE,
    stop_processes,
)

ROOT = Path(__file__).resolve().parent.parent
SERVERS = ("gunicorn", "granian", "uvicorn")
NEEDS = {"gunicorn": ("gunicorn",), "granian": ("granian",), "uvicorn": ("uvicorn", "a2wsgi")}


# -- the app, as `tokenboard serve` builds it --------------------------------------------------

def wsgi_app() -> Any:
    """The WSGI app `tokenboard serve` serves, from the environment (a factory for granian
    and uvicorn; gunicorn runs `tokenboard serve` itself)."""
    from concurrent.futures import ThreadPoolExecutor

    from bot.core.settings import load_settings
    from bot.runtime.app import build_bolt_app, build_deps
    from bot.runtime.layout import prepare_layouts, served_stores
    from bot.runtime.serve import LAZY_THREADS
    from bot.slack.startup import forget_slack_secrets
    from bot.web.app import build_web_app

    settings = load_settings(dict(os.environ), dotenv_path=None)
    forget_slack_secrets()
    deps = build_deps(settings)
    prepare_layouts(settings, served_stores(settings, deps.store))
    lazy = ThreadPoolExecutor(max_workers=LAZY_THREADS, thread_name_prefix="lazy")
    return build_web_app(deps, build_bolt_app(deps, lazy))


def run_uvicorn(argv: Sequence[str]) -> None:
    """A child: uvicorn in front of a2wsgi's adapter, in this one process."""
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--threads", type=int, default=8)
    a = p.parse_args(argv)
    import uvicorn
    from a2wsgi import WSGIMiddleware

    uvicorn.run(WSGIMiddleware(wsgi_app(), workers=a.threads), host="127.0.0.1",
                port=a.port, log_level="warning", timeout_graceful_shutdown=10)


def missing(kind: str) -> list[str]:
    """The packages `kind` needs that are not installed."""
    return [name for name in NEEDS[kind] if importlib.util.find_spec(name) is None]


def server_env(port: int, redis_url: str, stub_url: str, data_dir: Path,
               threads: int) -> dict[str, str]:
    """One environment for every server: the same settings, hence the same app."""
    return {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "HOME": str(data_dir),
            "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": stub_url, "REDIS_URL": redis_url,
            "TOKENBOARD_DATA_DIR": str(data_dir), "TOKENBOARD_WORKSPACE": WORKSPACE,
            "TOKENBOARD_TIMEZONE": "UTC", "INGEST_TOKENS": f"bench:{INGEST_TOKEN}",
            "INGEST_RATE_LIMIT": "0", "DIGEST_CHANNEL": "", "SERVE_JOBS": "off",
            "WEB_CONCURRENCY": "1", "WEB_THREADS": str(threads), "PORT": str(port)}


def command(kind: str, port: int, threads: int) -> list[str]:
    if kind == "gunicorn":
        return [sys.executable, "-m", "bot", "serve"]
    if kind == "granian":
        return [sys.executable, "-m", "granian", "--interface", "wsgi", "--factory",
                "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
                "--blocking-threads", str(threads), "--no-ws", "--log-level", "warning",
                "bench.wsgi_servers:wsgi_app"]
    return [sys.executable, "-m", "bench.wsgi_servers", "--port", str(port),
            "--threads", str(threads)]


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it, from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(parents.get(p, []))
    return found


def memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of `pid`, bytes (0 when it is gone)."""
    found = {"VmRSS": 0, "VmHWM": 0}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in found:
                found[name] = int(value.split()[0]) * 1024
    except OSError:
        pass
    return found


@dataclass
class Running:
    """One server process tree, started by `start`."""

    kind: str
    port: int
    proc: subprocess.Popen
    log: Path
    pids: list[int] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss(self) -> int:
        return sum(memory(p)["VmRSS"] for p in self.pids)

    def hwm(self) -> int:
        return sum(memory(p)["VmHWM"] for p in self.pids)

    def stop(self) -> None:
        stop_processes(self.proc)

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")


def start(kind: str, env: dict[str, str], threads: int, logs: Path) -> Running:
    """Start a server and wait until /healthz answers 200 and its processes are all up."""
    port = int(env["PORT"])
    log = logs / f"{kind}-{port}.log"
    with log.open("w") as err:
        proc = subprocess.Popen(command(kind, port, threads), env=env, cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=err)
    running = Running(kind, port, proc, log)
    deadline = time.monotonic() + 60
    while True:
        try:
            if get_healthz(running.url, 2)[0] == 200:
                break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            running.stop()
            raise RuntimeError(f"{kind} did not start: {running.stderr()[-1500:]}")
        time.sleep(0.1)
    running.pids = descendants(proc.pid)
    return running


def get_healthz(url: str, timeout: float) -> tuple[int, float]:
    """One GET /healthz on a new connection: (status, seconds)."""
    host, port = url.removeprefix("http://").split(":")
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request("GET", "/healthz")
        resp = conn.getresponse()
        resp.read()
        return resp.status, time.perf_counter() - t0
    finally:
        conn.close()


if __name__ == "__main__":
    run_uvicorn(sys.argv[1:])
