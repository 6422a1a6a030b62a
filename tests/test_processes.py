"""The processes of a deployment, run for real: `tokenboard serve` with several gunicorn
workers on the embedded Redis, `tokenboard worker` and its heartbeat, and serve running
the background jobs only while no worker does, and a web worker told to stop the moment its
master dies."""

from __future__ import annotations

import json
import os
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


# Run in a fresh interpreter, not forked from the test process (which has threads): a
# "master" forks a "worker" as gunicorn does, the worker calls the post_fork hook, and the
# master is then killed with SIGKILL; or the hook runs in a worker whose master is
# already gone. Prints what the worker heard within the wait: "T" (SIGTERM) or nothing.
_SCENARIO = """
import os, select, signal, sys, time
from types import SimpleNamespace
from bot.web.server import die_with_master

case, wait = sys.argv[1], float(sys.argv[2])
r, w = os.pipe()
master = os.fork()
if master == 0:
    if os.fork() == 0:
        signal.signal(signal.SIGTERM, lambda *_: (os.write(w, b"T"), os._exit(0)))
        if case == "killed":  # ready once the hook has run, then the master is killed
            die_with_master(None, SimpleNamespace(ppid=os.getppid()))
            os.write(w, b"R")
        else:  # the hook finds its master gone (-1: not its parent)
            os.write(w, b"R")
            die_with_master(None, SimpleNamespace(ppid=-1))
        time.sleep(60)
        os._exit(0)
    time.sleep(60)
    os._exit(0)
os.close(w)
assert select.select([r], [], [], 30)[0] and os.read(r, 1) == b"R"
os.kill(master, signal.SIGKILL)
os.waitpid(master, 0)
heard = os.read(r, 1) if select.select([r], [], [], wait)[0] else b""
print(heard.decode())
if heard != b"T":
    os.killpg(0, signal.SIGKILL)  # the worker sleeps on: this process group goes
"""


def _heard(case: str, wait: float) -> str:
    done = subprocess.run([sys.executable, "-c", _SCENARIO, case, str(wait)], cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
                          text=True, timeout=90, start_new_session=True, check=False)
    assert done.stderr == "" or done.returncode == -signal.SIGKILL, done.stderr
    return done.stdout.strip()


def test_a_worker_gets_sigterm_the_moment_its_master_is_killed() -> None:
    """On Linux the kernel sends a worker SIGTERM as its master dies (die_with_master);
    without the hook it would sleep on for a minute. Elsewhere the hook does nothing (the
    worker's own check of its master, once a second, stops it there): no signal comes."""
    linux = sys.platform.startswith("linux")
    assert _heard("killed", 30 if linux else 2) == ("T" if linux else "")


def test_a_worker_whose_master_died_before_the_hook_stops_at_once() -> None:
    """The master died between the fork and the hook: the kernel will never tell the
    worker, so the hook sends the SIGTERM itself (Linux)."""
    linux = sys.platform.startswith("linux")
    assert _heard("gone", 30 if linux else 2) == ("T" if linux else "")
