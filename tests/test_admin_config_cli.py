"""`tokenboard config export/import`: a round trip that saves and rescores, every error
reported, partial files and --replace, channel names turned into ids.

Real Redis and the Slack stub only.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis

from bot.core.config import DEFAULT_OUTCOMES, BoardConfig, OutcomeRule
from bot.core.periods import ALL
from bot.core.settings import Settings
from bot.runtime.app import build_deps
from bot.runtime.deps import Deps
from bot.slack.digest_schedule import current_schedule
from jobs.digest import DigestRunner
from tests.slack_stub import SlackStub
from tests.support.admin import bucket_points, config_version
from tests.support.cli_runs import run as run_cli
from tests.support.day_reports import outcome, record
from tests.support.digest_posts import posts

# -- the config CLI --------------------------------------------------------------------------------


@pytest.mark.slow
def test_cli_export_then_import_saves_and_rescores(tmp_path: Path, deps: Deps,
                                                   redis_url: str) -> None:
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    record(deps, [outcome("c1", "U0A", yesterday, "pr_merged", 4)])  # 5·√4 = 10
    env = {"REDIS_URL": redis_url}
    done = run_cli(["config", "export", "--format", "json"], env, tmp_path)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data == json.loads(BoardConfig().model_dump_json())

    data["outcomes"]["pr_merged"]["weight"] = 8
    data["board_size"] = 15
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    done = run_cli(["config", "import", str(path)], env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Saved configuration version 1" in done.stdout
    assert "pr_merged weight 5 → 8" in done.stdout and "board size 10 → 15" in done.stdout
    config = deps.store.configs.load()
    assert config.outcomes["pr_merged"].weight == 8 and config.board_size == 15
    assert deps.store.configs.history()[0]["by"] == "cli:import"
    assert bucket_points(deps, ALL) == pytest.approx({"U0A": 16})  # 8·√4

    again = run_cli(["config", "import", str(path)], env, tmp_path)
    assert again.returncode == 0 and "No changes" in again.stdout
    assert config_version(deps) == 1


@pytest.mark.slow
def test_cli_import_reports_every_error(tmp_path: Path, deps: Deps, redis_url: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "board_size: 30\n"
        "timezone: Mars/Olympus\n"
        "digest_time: '25:00'\n"
        "colour: blue\n"
        "outcomes:\n"
        "  pr_merged: {label: PRs merged, weight: -1, cap: 10, transform: sqrt}\n")
    done = run_cli(["config", "import", str(path)], {"REDIS_URL": redis_url}, tmp_path)
    assert done.returncode == 1
    assert "5 problem(s)" in done.stderr
    lines = [line.strip() for line in done.stderr.splitlines()[1:]]
    where = sorted(line.split(":")[0] for line in lines)
    assert where == ["board_size", "colour", "digest_time", "outcomes.pr_merged.weight",
                     "timezone"]
    assert "Traceback" not in done.stderr
    assert config_version(deps) == 0


def _custom_config() -> BoardConfig:
    """The defaults plus a kind an admin added: hotfix, weight 4."""
    return BoardConfig(outcomes={**DEFAULT_OUTCOMES, "hotfix": OutcomeRule(
        label="Hotfixes", weight=4, cap=5, transform="sqrt")})


def _changes_printed(stdout: str) -> list[str]:
    return [line.strip() for line in stdout.splitlines() if line.startswith("  ")]


@pytest.mark.slow
def test_cli_import_of_a_partial_file_changes_only_what_it_lists(
        tmp_path: Path, deps: Deps, redis_url: str) -> None:
    deps.store.configs.save(_custom_config(), by="U0ANA", changes=["added outcome kind hotfix"])
    path = tmp_path / "partial.yaml"
    path.write_text("board_size: 15\noutcomes:\n  pr_merged: {weight: 8}\n")
    env = {"REDIS_URL": redis_url}

    dry = run_cli(["config", "import", str(path), "--dry-run"], env, tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert _changes_printed(dry.stdout) == ["pr_merged weight 5 → 8", "board size 10 → 15"]
    assert "nothing saved" in dry.stdout
    assert config_version(deps) == 1 and deps.store.configs.load() == _custom_config()

    done = run_cli(["config", "import", str(path)], env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert _changes_printed(done.stdout) == ["pr_merged weight 5 → 8", "board size 10 → 15"]
    saved = deps.store.configs.load()
    assert sorted(saved.outcomes) == ["commit", "deploy", "hotfix", "incident_resolved",
                                      "pr_merged", "review", "ticket_resolved"]
    assert saved.outcomes["pr_merged"] == OutcomeRule(label="PRs merged", weight=8, cap=10,
                                                      transform="sqrt")
    assert saved.outcomes["hotfix"].weight == 4 and saved.board_size == 15


@pytest.mark.slow
def test_cli_import_replace_removes_what_the_file_does_not_list(
        tmp_path: Path, deps: Deps, redis_url: str) -> None:
    deps.store.configs.save(_custom_config(), by="U0ANA", changes=["added outcome kind hotfix"])
    path = tmp_path / "whole.json"
    path.write_text(json.dumps({"board_size": 12, "outcomes": {"pr_merged": {
        "label": "PRs merged", "weight": 5, "cap": 10, "transform": "sqrt"}}}))
    env = {"REDIS_URL": redis_url}
    removed = [f"removed outcome kind {k}" for k in
               ("commit", "deploy", "hotfix", "incident_resolved", "review", "ticket_resolved")]

    dry = run_cli(["config", "import", str(path), "--replace", "--dry-run"], env, tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert _changes_printed(dry.stdout) == removed + ["board size 10 → 12"]
    assert config_version(deps) == 1

    # --replace never asks: run_cli gives the command no stdin, as in a script
    done = run_cli(["config", "import", str(path), "--replace"], env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert _changes_printed(done.stdout) == removed + ["board size 10 → 12"]
    assert list(deps.store.configs.load().outcomes) == ["pr_merged"]

    # without --replace, the same file removes nothing
    deps.store.configs.save(_custom_config(), by="U0ANA", changes=["back"])
    kept = run_cli(["config", "import", str(path)], env, tmp_path)
    assert _changes_printed(kept.stdout) == ["board size 10 → 12"]
    assert len(deps.store.configs.load().outcomes) == 7


@pytest.mark.slow
def test_cli_import_turns_a_channel_name_into_its_id(tmp_path: Path, deps: Deps,
                                                     redis_url: str, stub: SlackStub) -> None:
    for i in range(3):  # the answer is paged: the channel is on a later page
        stub.add_channel(f"C0OTHER{i}", f"other-{i}")
    stub.add_channel("C0GENERAL", "general")
    path = tmp_path / "channel.yaml"
    path.write_text("digest_channel: '#general'\n")
    slack = {"REDIS_URL": redis_url, "SLACK_BOT_TOKEN": "xoxb-test",
             "SLACK_API_URL": stub.url}

    # where Slack cannot be asked, the message says why and what to give instead
    offline = run_cli(["config", "import", str(path)], {"REDIS_URL": redis_url}, tmp_path)
    assert offline.returncode == 1
    assert "digest_channel: #general is a channel name" in offline.stderr
    assert "SLACK_BOT_TOKEN" in offline.stderr and "conversations.list" in offline.stderr
    assert config_version(deps) == 0

    dry = run_cli(["config", "import", str(path), "--dry-run"], slack, tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert _changes_printed(dry.stdout) == ["digest channel none → C0GENERAL"]
    done = run_cli(["config", "import", str(path)], slack, tmp_path)
    assert done.returncode == 0, done.stderr
    assert deps.store.configs.load().digest_channel == "C0GENERAL"

    path.write_text("digest_channel: '#nowhere'\n")
    missing = run_cli(["config", "import", str(path)], slack, tmp_path)
    assert missing.returncode == 1 and "no channel named #nowhere" in missing.stderr


def test_a_digest_channel_name_in_the_environment_posts_to_its_id(
        settings: Settings, redis_client: redis.Redis, stub: SlackStub) -> None:
    stub.add_channel("C0GENERAL", "general")
    deps = build_deps(replace(settings, digest_channel="#general"), redis_client)
    assert current_schedule(deps).channel == "C0GENERAL"
    assert DigestRunner(deps).run(datetime.now(UTC).date() - timedelta(days=1)).status == "posted"
    assert [p["channel"] for p in posts(stub)] == ["C0GENERAL"]

    stub.clear()  # a name nobody has: not posted, and admins are told which name
    deps = build_deps(replace(settings, digest_channel="#gone"), redis_client)
    outcome = DigestRunner(deps).run(datetime.now(UTC).date() - timedelta(days=1))
    assert outcome.status == "failed" and "no channel named #gone" in (outcome.error or "")
    assert posts(stub) == []
    assert "no channel named #gone" in (deps.store.digests.error() or "")
