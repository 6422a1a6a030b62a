"""The processes of a deployment, run for real: `tokenboard serve` with several gunicorn
workers on the embedded Redis, `tokenboard worker` and its heartbeat, and serve running
the background jobs only while no worker does."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis

from bot.runtime.deps import Deps
from bot.runtime.worker import EmbeddedJobs, Heartbeat, live_worker
from bot.store.embedded import free_port
from tests.conftest import http
from tests.slack_stub import SlackStub
from tests.support.processes import base_env, children, let_go
from tests.support.serve_process import ServeProcess

pytestmark = pytest.mark.slow  # starts tokenboard serve and worker processes

ROOT = Path(__file__).resolve().parents[1]


def test_two_web_workers_answer_on_one_embedded_redis(tmp_path: Path, stub: SlackStub) -> None:
    port = free_port()
    env = {**base_env(tmp_path, stub), "PORT": str(port), "WEB_CONCURRENCY": "2"}
    serve = ServeProcess(env, port, tmp_path).start()
    assert serve.process is not None
    master = serve.process.pid
    try:
        def pid_of_answer(_: int) -> int:
            answer = http("GET", serve.url + "/healthz")
            assert answer.status == 200, answer
            return int(json.loads(answer.body)["pid"])

        pids: set[int] = set()
        deadline = time.monotonic() + 90  # a wait, not a timing assertion: on a busy box
        with ThreadPoolExecutor(8) as pool:  # one worker may still be booting for a while
            while len(pids) < 2 and time.monotonic() < deadline:
                # the kernel hands each connection to whichever worker accepts first
                pids |= set(pool.map(pid_of_answer, range(40)))
                time.sleep(0.1)
        kids = children(master)
        workers = {pid for pid, name in kids if name != "redis-server"}
        servers = [pid for pid, name in kids if name == "redis-server"]
        assert len(pids) == 2 and pids <= workers and master not in pids, (pids, kids)
        # the embedded Redis is started once, by the master, never by a worker
        assert len(servers) == 1, kids
        assert not [c for w in workers for c in children(w)], "a worker started a process"
    finally:
        serve.stop()
    assert serve.process.returncode == 0, serve.log()
    assert not Path(f"/proc/{servers[0]}").exists(), "the embedded Redis outlived serve"
    assert "Traceback" not in serve.log()


def test_worker_heartbeat_and_clean_stop(tmp_path: Path, stub: SlackStub, redis_url: str,
                                         redis_client: redis.Redis, deps: Deps) -> None:
    env = {**base_env(tmp_path, stub), "REDIS_URL": redis_url}
    proc = subprocess.Popen([sys.executable, "-m", "bot", "worker"], env=env, cwd=tmp_path,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while live_worker(deps) is None:
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        host, pid = (live_worker(deps) or "").split()
        assert int(pid) == proc.pid
        ttl = redis_client.ttl(deps.store.keys.worker_heartbeat())
        assert 0 < ttl <= 30
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr, stderr
    assert "worker " + f"{host} {pid} running the background jobs" in stderr
    assert live_worker(deps) is None  # cleared on the way out, not left to expire


def test_serve_runs_the_jobs_only_while_no_worker_is_live(deps: Deps) -> None:
    def until(condition, seconds: float = 10) -> bool:
        deadline = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    other = Heartbeat(deps)
    other.me = "elsewhere 1"
    other.beat()
    embedded = EmbeddedJobs(deps, interval=0.05).start()
    try:
        time.sleep(0.3)  # several checks
        assert not embedded.jobs.running  # a worker is live: serve runs nothing
        other.clear()
        assert until(lambda: embedded.jobs.running)  # the worker went away: serve takes over
        scheduled = {job.id for job in embedded.jobs.scheduler.scheduler.get_jobs()}
        assert {"digest", "sync", "rescore"} <= scheduled
        other.beat()
        assert until(lambda: not embedded.jobs.running)  # a worker is back: serve stops
    finally:
        embedded.stop()
    assert not embedded.jobs.running


def test_sigterm_during_start_up_stops_the_embedded_redis_too(tmp_path: Path,
                                                              stub: SlackStub) -> None:
    """SIGTERM after the embedded Redis started, before gunicorn took the signals over
    (here: while Socket Mode connects), still stops cleanly: exit 0, Redis stopped."""
    reached, release = threading.Event(), threading.Event()

    def hold() -> None:
        reached.set()
        release.wait(20)

    stub.socket_mode("xapp-1-A0TEST-1-start", "ws://127.0.0.1:9/never")
    stub.on_next_call("apps.connections.open", hold)
    env = {**base_env(tmp_path, stub), "PORT": str(free_port()),
           "SLACK_APP_TOKEN": "xapp-1-A0TEST-1-start"}
    proc = subprocess.Popen([sys.executable, "-m", "bot", "serve"], env=env, cwd=tmp_path,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert reached.wait(30), "serve never asked for a Socket Mode connection"
        servers = [pid for pid, name in children(proc.pid) if name == "redis-server"]
        assert len(servers) == 1
        proc.send_signal(signal.SIGTERM)
        release.set()
        _, stderr = proc.communicate(timeout=20)
    finally:
        let_go(proc, release)
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr, stderr
    assert not Path(f"/proc/{servers[0]}").exists(), "the embedded Redis outlived serve"
