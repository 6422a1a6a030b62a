"""Workspaces stay apart: each ingest token belongs to one workspace, and one tokenboard
process counts every report in its token's workspace only, on a single Redis and on a
Redis Cluster (workspaces on different primaries)."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.core.settings import Settings
from bot.runtime.app import build_deps
from tests.conftest import App, workspaces_on_each_primary
from tests.slack_stub import SlackStub
from tests.support.cli_in_process import cli

NOW = datetime.now(UTC) - timedelta(minutes=1)
TS = NOW.isoformat().replace("+00:00", "Z")
PEOPLE = [f"U0P{i}" for i in range(12)]
BATCHES = 12


def batch(number: int, scale: int) -> list[dict]:
    """The same event ids and people in every workspace; amounts scaled per workspace."""
    return [{"id": f"b{number}-{person}", "type": "usage", "user": person, "ts": TS,
             "tool": "meshclaw", "tokens": scale * (number + 1) * (i + 1)}
            for i, person in enumerate(PEOPLE)]


def expected_tokens(scale: int) -> dict[str, float]:
    return {person: float(sum(scale * (n + 1) * (i + 1) for n in range(BATCHES)))
            for i, person in enumerate(PEOPLE)}


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["single", "cluster"])
def test_two_workspaces_under_the_same_load_stay_apart(
        backend: str, request: pytest.FixtureRequest, settings: Settings, stub: SlackStub,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    if backend == "single":
        client, url = request.getfixturevalue("redis_client"), settings.redis_url
        workspaces = ["T0AAA", "T0BBB"]
    else:
        client = request.getfixturevalue("cluster_client")
        cluster = request.getfixturevalue("local_cluster")
        url = cluster.url
        workspaces = workspaces_on_each_primary(cluster)[:2]  # on two different primaries
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("INGEST_TOKENS", raising=False)
    tokens = {}
    for ws in workspaces:
        code, out, err = cli(["tokens", "create", "laptops", "--workspace", ws], url,
                             monkeypatch, capsys)
        assert code == 0, err
        tokens[ws] = out.strip().splitlines()[-1]
    scales = dict(zip(workspaces, (1000, 7), strict=True))

    # One process (its own workspace is "default") serves both workspaces' senders.
    app = App(build_deps(settings, client), stub)
    answers: dict[str, list[int]] = {ws: [] for ws in workspaces}

    def send(ws: str) -> None:
        for number in range(BATCHES):
            for _ in range(2):  # every batch twice, as a sender that retries would
                answer = app.ingest(batch(number, scales[ws]), token=tokens[ws])
                answers[ws].append(answer.status)

    threads = [threading.Thread(target=send, args=(ws,)) for ws in workspaces]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert all(statuses == [200] * 2 * BATCHES for statuses in answers.values()), answers

        # A token is looked up only in the workspace it names: pointing one workspace's
        # token at the other is refused, and so is a revoked one, without touching the other.
        first, second = workspaces
        forged = tokens[first].replace(f"tb.{first}.", f"tb.{second}.")
        assert app.ingest(batch(99, 1), token=forged).status == 401
        code, _, err = cli(["tokens", "revoke", "laptops", "--workspace", first], url,
                           monkeypatch, capsys)
        assert code == 0, err
        assert app.ingest(batch(99, 1), token=tokens[first]).status == 401
        assert app.ingest(batch(0, scales[second]), token=tokens[second]).json()[
            "duplicates"] == len(PEOPLE)
        # The process's bot token is its own workspace's: an email is never looked up in
        # the wrong Slack for another workspace's report.
        by_email = [{**batch(98, 1)[0], "user": None, "email": "ana@example.com"}]
        assert app.ingest(by_email, token=tokens[second]).status == 503
        assert stub.calls("users.lookupByEmail") == []
    finally:
        app.stop()

    for ws in workspaces:
        code, out, err = cli(["leaderboard", "--workspace", ws, "--period", "today", "--json"],
                             url, monkeypatch, capsys)
        assert code == 0, err
        assert {row["user"]: row["score"] for row in json.loads(out)["raw"]} == \
            expected_tokens(scales[ws])
    code, out, _ = cli(["leaderboard", "--period", "today", "--json"], url, monkeypatch, capsys)
    assert json.loads(out)["raw"] == []  # the process's own workspace got nothing


