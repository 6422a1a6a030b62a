"""Faults during a stream of reports: nothing is lost and nothing is counted twice.

Real processes only: `tokenboard serve` runs as a subprocess (`python -m bot serve`) on
its own durable redis-server (AOF, `appendfsync always`), Slack is tests/slack_stub/.
Sender threads stream `/ingest` batches (usage and outcome events with distinct ids),
OpenTelemetry exports (delta and cumulative series, encoded by the OpenTelemetry SDK) and
GitHub merged-pull-request deliveries (each merge delivered by two hooks), and retry
each request, with the very same body, until it is answered 200, as a client following
the README does. Meanwhile:

1. the server is killed with SIGKILL at random moments and started again on its port;
2. redis-server is stopped (SIGKILL or SIGTERM, alternately) and started again.

Afterwards every all-time board in Redis must hold exactly what was sent, computed here
from the generated reports: tokens per person (ingest + OTLP), requests per person (one
per usage event: a doubled or lost event shows as ±1), outcome counts (deploys from
/ingest, merges from GitHub) and points.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.store.embedded import EmbeddedRedis, free_port
from tests.conftest import BOT_TOKEN, SIGNING_SECRET
from tests.slack_stub import SlackStub
from tests.support.fault_streams import (
    FAULTS,
    SENDER,
    TOKEN,
    check_totals,
    link_identities,
    make_plan,
    stream,
)
from tests.support.serve_process import ServeProcess
from tests.support.webhook_requests import GH_SECRET

pytestmark = pytest.mark.slow  # serve processes; a redis-server killed and restarted


ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Rig:
    redis: EmbeddedRedis
    serve: ServeProcess
    stub: SlackStub


@pytest.fixture
def rig(tmp_path: Path, stub: SlackStub) -> Iterator[Rig]:
    """A durable redis-server and `tokenboard serve` on it; both stopped whatever happens."""
    # acknowledged writes survive SIGKILL: AOF with fsync before each reply, no snapshots
    store = EmbeddedRedis(tmp_path / "redis", port=free_port(), fsync_always=True)
    serve: ServeProcess | None = None
    try:
        store.start()
        env = {
            "PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "HOME": str(tmp_path),
            "REDIS_URL": store.url, "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": stub.url,
            "INGEST_TOKENS": f"{SENDER}:{TOKEN}", "PORT": str(free_port()),
            "GITHUB_WEBHOOK_SECRET": GH_SECRET,
            "TOKENBOARD_DATA_DIR": str(tmp_path / "data"), "TOKENBOARD_TIMEZONE": "UTC",
            # the stream is faster than the default 600 requests a minute; 0 turns it off
            "INGEST_RATE_LIMIT": "0",
        }
        serve = ServeProcess(env, int(env["PORT"]), tmp_path)
        yield Rig(store, serve.start(), stub)
    finally:
        if serve is not None:
            serve.stop()
        store.stop()


# -- the faults ---------------------------------------------------------------------------
def test_kill_9_of_the_server_mid_stream_loses_and_doubles_nothing(rig: Rig) -> None:
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    plan = make_plan(rng, rig.stub)
    link_identities(plan, rig.redis.url)

    def kill_and_restart() -> None:
        rig.serve.kill()
        time.sleep(rng.uniform(0, 0.3))
        rig.serve.start()

    tally, injected = stream(plan, rig.serve.url, kill_and_restart, rng)
    assert rig.serve.starts == 1 + injected
    check_totals(plan, tally, injected, rig.redis.url, seed, "server SIGKILL",
                 rig.serve.log())


def test_redis_restarts_mid_stream_lose_and_double_nothing(rig: Rig) -> None:
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    plan = make_plan(rng, rig.stub)
    link_identities(plan, rig.redis.url)
    kills = iter([signal.SIGKILL, signal.SIGTERM] * FAULTS)

    def restart_redis() -> None:
        rig.redis.stop(next(kills))
        time.sleep(rng.uniform(0.1, 0.5))
        rig.redis.start()

    tally, injected = stream(plan, rig.serve.url, restart_redis, rng)
    assert rig.serve.alive() and rig.serve.starts == 1, rig.serve.log()
    assert sum(n for s, n in tally.statuses.items() if s == "503") > 0  # it did see them
    check_totals(plan, tally, injected, rig.redis.url, seed, "redis restarts",
                 rig.serve.log())
