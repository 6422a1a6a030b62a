"""Several `tokenboard serve` processes on one Redis (and on a Redis Cluster) behind a
round-robin proxy: reports streamed through the proxy while one process is killed with
SIGKILL, senders retrying whatever failed, give exact totals, and the digest is posted
exactly once.

The processes are the real command (`python -m bot serve`) with the Slack Web API at the
stub. Each runs the digest scheduler built into `serve`; every one of them catches up on
yesterday's digest at start-up (its time passed a minute ago), so all three race for it.
"""

from __future__ import annotations

import http.client
import json
import signal
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis

from bot.core.settings import Settings
from bot.runtime.app import build_deps
from tests.conftest import INGEST_TOKEN
from tests.round_robin import RoundRobinProxy
from tests.serve_processes import Process, start, stop_all, wait_healthy
from tests.slack_stub import SlackStub

pytestmark = pytest.mark.slow  # starts three tokenboard serve processes, a kill

CHANNEL = "C0DIGEST"
SENDERS, BATCHES, EVENTS = 4, 20, 25  # per sender: batches of events
KILL_AFTER = SENDERS * BATCHES // 3  # acknowledged batches before one process is killed
PEOPLE = [f"U0P{i:02d}" for i in range(30)]
# The processes to start, each a `tokenboard` command line. A dedicated scheduler process
# (a `tokenboard worker`) would be one more entry, with the web processes' scheduler off.
PROCESSES = [["serve"], ["serve"], ["serve"]]


def digest_env() -> dict[str, str]:
    """Digest settings that make every process catch up on yesterday's digest at start."""
    digest_at = datetime.now(UTC) - timedelta(minutes=1)
    return {"INGEST_TOKENS": f"ci:{INGEST_TOKEN}", "INGEST_RATE_LIMIT": "0",
            "TOKENBOARD_TIMEZONE": "UTC", "DIGEST_CHANNEL": CHANNEL,
            "DIGEST_TIME": f"{digest_at:%H:%M}", "WEB_CONCURRENCY": "1"}


def post(url: str, body: bytes, timeout: float = 10) -> int:
    """POST /ingest through `url`; the status, or 0 when the connection failed."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request("POST", "/ingest", body, {"Content-Type": "application/json",
                                               "Authorization": f"Bearer {INGEST_TOKEN}",
                                               "Connection": "close"})
        answer = conn.getresponse()
        answer.read()
        return answer.status
    except (OSError, http.client.HTTPException):
        return 0
    finally:
        conn.close()


@pytest.fixture
def processes(request: pytest.FixtureRequest, stub: SlackStub, tmp_path: Path
              ) -> Iterator[tuple[list[Process], redis.Redis]]:
    """The processes of PROCESSES on the Redis `request.param` names (emptied), all
    healthy, and a client of that Redis."""
    if request.param == "single":
        url, client = request.getfixturevalue("redis_url"), request.getfixturevalue(
            "redis_client")
    else:
        url = request.getfixturevalue("local_cluster").url
        client = request.getfixturevalue("cluster_client")
    running = [start(command, url, stub.url, tmp_path, f"process-{i}", **digest_env())
               for i, command in enumerate(PROCESSES)]
    try:
        wait_healthy(running)
        yield running, client
    finally:
        stop_all(running)


def batch(sender: int, number: int) -> list[dict]:
    ts = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    return [{"id": f"s{sender}-b{number}-e{i}", "type": "usage",
             "user": PEOPLE[(sender * 7 + number + i) % len(PEOPLE)], "ts": ts,
             "tool": "meshclaw", "tokens": 1 + sender * 1000 + number * 10 + i}
            for i in range(EVENTS)]


@pytest.mark.parametrize("processes", ["single", "cluster"], indirect=True)
def test_three_processes_keep_exact_totals_through_a_kill_and_post_one_digest(
        processes: tuple[list[Process], redis.Redis], settings: Settings,
        stub: SlackStub) -> None:
    running, client = processes
    proxy = RoundRobinProxy([p.port for p in running]).start()
    acked: list[list[dict]] = []
    retried = [0]
    lock = threading.Lock()

    def send(sender: int) -> None:
        for number in range(BATCHES):
            events = batch(sender, number)
            body = json.dumps({"events": events}).encode()
            while (status := post(proxy.url, body)) != 200:  # retry what failed
                assert status in (0, 502, 503), status
                with lock:
                    retried[0] += 1
                time.sleep(0.05)
            with lock:
                acked.append(events)

    threads = [threading.Thread(target=send, args=(s,)) for s in range(SENDERS)]
    try:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while len(acked) < KILL_AFTER and time.monotonic() < deadline:
            time.sleep(0.01)
        victim = running[1]
        victim.popen.send_signal(signal.SIGKILL)
        victim.popen.wait(timeout=10)
        killed_at = len(acked)
        for thread in threads:
            thread.join(timeout=60)
    finally:
        proxy.close()
    assert 0 < killed_at < SENDERS * BATCHES  # killed mid-stream
    assert len(acked) == SENDERS * BATCHES

    deps = build_deps(settings, client)
    expected: dict[str, float] = {}
    for events in acked:
        for event in events:
            expected[event["user"]] = expected.get(event["user"], 0) + event["tokens"]
    board = deps.leaderboards.full_board("today").board
    assert {row.user: row.tokens for row in board.raw} == expected

    # Every process caught up on yesterday's digest at start-up; one posted it.
    posts = [c for c in stub.calls("chat.postMessage") if c.args.get("channel") == CHANNEL]
    assert len(posts) == 1, [p.log.read_text()[-1500:] for p in running]
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date()
    assert deps.store.digests.posted(CHANNEL, yesterday)
