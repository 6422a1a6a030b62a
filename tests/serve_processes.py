"""Real `tokenboard` processes (`python -m bot …`) for the suite and the benchmarks: each
on its own port, with the Slack Web API at a stub, logging to a file."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bot.store.embedded import free_port
from tests.conftest import BOT_TOKEN, SIGNING_SECRET

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Process:
    popen: subprocess.Popen[bytes]
    port: int
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def healthy(self) -> bool:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            conn.request("GET", "/healthz")
            return conn.getresponse().status == 200
        except OSError:
            return False
        finally:
            conn.close()


def start(command: list[str], redis_url: str, slack_api_url: str, data_dir: Path,
          name: str, **env: str) -> Process:
    """`tokenboard COMMAND` on a free PORT, Redis at `redis_url`; `env` adds variables."""
    port = free_port()
    environ = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "HOME": str(data_dir),
               "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
               "SLACK_API_URL": slack_api_url, "REDIS_URL": redis_url, "PORT": str(port),
               "TOKENBOARD_DATA_DIR": str(data_dir), **env}
    log = data_dir / f"{name}.log"
    with log.open("wb") as out:
        popen = subprocess.Popen([sys.executable, "-m", "bot", *command], env=environ,
                                 cwd=data_dir, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    return Process(popen, port, log)


def wait_healthy(processes: list[Process], timeout: float = 45) -> None:
    """Until every process answers /healthz; RuntimeError with their logs if one dies."""
    deadline = time.monotonic() + timeout
    while not all(p.healthy() for p in processes):
        dead = [p for p in processes if not p.alive()]
        if dead or time.monotonic() > deadline:
            raise RuntimeError("tokenboard did not start:\n" + "\n".join(
                p.log.read_text()[-2000:] for p in (dead or processes)))
        time.sleep(0.1)


def stop_all(processes: list[Process]) -> None:
    """SIGTERM (what a process manager sends), then SIGKILL after 20 s."""
    for p in processes:
        if p.alive():
            p.popen.send_signal(signal.SIGTERM)
    for p in processes:
        try:
            p.popen.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.popen.kill()
            p.popen.wait()
