"""Admin configuration through the modal, as signed Slack requests: a valid submission
saves, is audited and rescores past periods; each invalid field is reported on its block
and nothing changes.

Real Redis and the Slack stub only. Every expected number is worked out by hand in the
comments next to it (points per person per day = weight × transform(min(count, cap))).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import redis

from bot.core.config import BoardConfig, OutcomeRule
from bot.core.periods import day_bucket
from bot.core.settings import Settings
from bot.render.config_modal import config_view
from bot.runtime.app import build_deps
from bot.slack.digest_schedule import current_schedule
from tests.conftest import ADMIN, App
from tests.slack_stub import SlackStub
from tests.support.admin import at_noon, bucket_points, config_version, outcome_points
from tests.support.digests import CHANNEL
from tests.support.polling import wait_for
from tests.support.slack_interactions import (
    opened_views,
    submit,
)
from tests.support.view_limits import check_view_limits

SQRT3 = math.sqrt(3)


@pytest.fixture
def channels(stub: SlackStub) -> Iterator[set[str]]:
    """The stub's channels the bot is a member of; emptied before and after the test."""
    stub.member_channels.clear()
    yield stub.member_channels
    stub.member_channels.clear()


# -- a valid submission saves, is audited and changes the rankings ---------------------------------


@pytest.mark.slow
def test_valid_submission_saves_audits_and_rescores_past_periods(admin_app: App) -> None:
    deps = admin_app.deps
    today = datetime.now(UTC).date()
    d1, d2 = today - timedelta(days=2), today - timedelta(days=1)  # d2 is "yesterday"
    events = []
    for day in (d1, d2):
        events += [
            {"id": f"a-pr-{day}", "type": "outcome", "user": "U0A", "ts": at_noon(day),
             "kind": "pr_merged", "count": 1},
            {"id": f"b-rev-{day}", "type": "outcome", "user": "U0B", "ts": at_noon(day),
             "kind": "review", "count": 3},
        ]
    assert admin_app.ingest(events).json()["accepted"] == 4
    # Defaults: A = 5·√1 = 5 per day, B = 2·√3 ≈ 3.464 per day.
    assert outcome_points(deps, "all") == pytest.approx({"U0A": 10, "U0B": 4 * SQRT3})
    assert outcome_points(deps, "yesterday") == pytest.approx({"U0A": 5, "U0B": 2 * SQRT3})

    # The admin opens the modal; the view Slack got is the one submitted.
    assert admin_app.command("config", user_id=ADMIN, name="open").status == 200
    [view] = wait_for(lambda: opened_views(admin_app.stub))
    check_view_limits(view)
    answer = submit(admin_app, view, ADMIN, {"weight:pr_merged": "8"})
    assert (answer.status, answer.body) == (200, b"")

    config, version = deps.store.configs.load_versioned()
    assert version == 1 and config.outcomes["pr_merged"].weight == 8
    [entry] = deps.store.configs.history()
    assert entry["by"] == ADMIN and entry["version"] == 1 and entry["scoring"] is True
    assert "pr_merged weight 5 → 8" in entry["changes"]
    # The lazy rebuild ran before the App Home refresh that `submit` waited for.
    assert deps.store.configs.scored_version() == 1
    # A = 8·√1 = 8 per day (16 in all); B unchanged.
    assert outcome_points(deps, "all") == pytest.approx({"U0A": 16, "U0B": 4 * SQRT3})
    assert outcome_points(deps, "yesterday") == pytest.approx({"U0A": 8, "U0B": 2 * SQRT3})
    assert bucket_points(deps, day_bucket(d1)) == pytest.approx({"U0A": 8, "U0B": 2 * SQRT3})

    # Lowering it to 3 flips the outcome board: A = 3 per day < B ≈ 3.464.
    view = config_view(deps.store.configs.load())
    assert (submit(admin_app, view, ADMIN, {"weight:pr_merged": "3"}).body) == b""
    assert deps.store.configs.history()[0]["changes"] == ["pr_merged weight 8 → 3"]
    assert deps.store.configs.scored_version() == 2
    for period, days in (("all", 2), ("yesterday", 1)):
        board = deps.leaderboards.period_board(period).board
        assert [r.user for r in board.outcome] == ["U0B", "U0A"]
        assert {r.user: r.points for r in board.outcome} == pytest.approx(
            {"U0A": 3 * days, "U0B": 2 * SQRT3 * days})


@pytest.mark.slow
def test_weight_only_save_keeps_the_schedule_from_the_environment(
        settings: Settings, redis_client: redis.Redis, stub: SlackStub) -> None:
    env_settings = replace(settings, admin_user_ids=(ADMIN,), digest_time="07:00",
                           timezone="Europe/Berlin", digest_channel=CHANNEL)
    running = App(build_deps(env_settings, redis_client), stub)
    try:
        # the view exactly as handlers.admin.open_config builds it
        view = config_view(running.deps.store.configs.load(), "07:00", "Europe/Berlin")
        assert submit(running, view, ADMIN, {"weight:pr_merged": "8"}).body == b""
        schedule = current_schedule(running.deps)
        assert (schedule.time, schedule.timezone) == ("07:00", "Europe/Berlin")
        assert running.deps.store.configs.history()[0]["changes"] == [
            "pr_merged weight 5 → 8"]
    finally:
        running.stop()


@pytest.mark.slow
def test_workspace_admin_submission_saves_every_section(app: App, channels: set[str]) -> None:
    app.stub.add_user("U0WSADM", display_name="Wanda", is_admin=True)
    channels.add("C0DIGEST")
    view = config_view(app.deps.store.configs.load())
    answer = submit(app, view, "U0WSADM", {
        "raw_metric": "cost", "cap:review": "", "transform:commit": "linear",
        "new_kind": "hotfix: Hotfixes shipped", "remove_kinds": ["deploy"],
        "digest_channel": "C0DIGEST", "digest_time": "07:15", "timezone": "Europe/Berlin",
        "board_size": "12", "digest_enabled": [], "display": "mentions", "flags": "off",
        "admins": ["U0HELPER"]})
    assert (answer.status, answer.body) == (200, b"")
    config = app.deps.store.configs.load()
    assert config.raw_metric == "cost" and config.board_size == 12
    assert config.outcomes["review"].cap is None and config.outcomes["commit"].transform \
        == "linear"
    assert "deploy" not in config.outcomes
    assert config.outcomes["hotfix"] == OutcomeRule(label="Hotfixes shipped", weight=1,
                                                    transform="sqrt")
    assert (config.digest_channel, config.digest_time, config.timezone) == (
        "C0DIGEST", "07:15", "Europe/Berlin")
    assert not config.digest_enabled
    assert (config.display, config.flags, config.admins) == ("mentions", "off", ["U0HELPER"])
    [entry] = app.deps.store.configs.history()
    assert entry["by"] == "U0WSADM" and entry["scoring"] is True
    for change in ("removed outcome kind deploy",
                   "added outcome kind hotfix (Hotfixes shipped: weight 1, cap none, sqrt)",
                   "review cap 10 → none", "commit transform log → linear",
                   "raw metric tokens → cost", "board size 10 → 12", "display names → mentions",
                   "digest time none → 07:15", "admins none → U0HELPER"):
        assert change in entry["changes"]
    # Submitting the same values again changes nothing and records nothing.
    submit(app, config_view(config), "U0WSADM")
    assert config_version(app.deps) == 1


# -- each invalid field is reported on its block, and nothing changes -----------------------------


@pytest.mark.slow
@pytest.mark.parametrize(("block_id", "value", "expected_block"), [
    ("weight:pr_merged", "abc", "weight:pr_merged"),
    ("weight:pr_merged", "-1", "weight:pr_merged"),
    ("weight:pr_merged", "nan", "weight:pr_merged"),
    ("cap:pr_merged", "0", "cap:pr_merged"),
    ("cap:pr_merged", "2.5", "cap:pr_merged"),
    ("new_kind", "Bad Key: x", "new_kind"),
    ("new_kind", "pr_merged: dup", "new_kind"),
    ("new_kind", "nolabel", "new_kind"),
    ("board_size", "30", "board_size"),
    ("board_size", "4", "board_size"),
    ("timezone", "Mars/Olympus", "timezone"),
    ("token_types", [], "token_types"),
    ("pr_small_fraction", "1.5", "pr_small_fraction"),
    ("pr_small_lines", "2.5", "pr_small_lines"),
    ("pr_self_merge_fraction", "half", "pr_self_merge_fraction"),
])
def test_invalid_field_is_reported_on_its_block(admin_app: App, block_id: str, value: str,
                                                expected_block: str) -> None:
    view = config_view(admin_app.deps.store.configs.load())
    answer = submit(admin_app, view, ADMIN, {block_id: value, "board_size": "12"}
                    if block_id != "board_size" else {block_id: value})
    assert answer.status == 200
    body = answer.json()
    assert body["response_action"] == "errors"
    assert list(body["errors"]) == [expected_block]
    assert body["errors"][expected_block]
    # Nothing was saved, not even the valid board size change next to the bad field.
    assert admin_app.deps.store.configs.load_versioned() == (BoardConfig(), 0)
    assert admin_app.deps.store.configs.history() == []


@pytest.mark.slow
def test_usage_settings_in_the_modal(admin_app: App) -> None:
    view = config_view(admin_app.deps.store.configs.load())
    answer = submit(admin_app, view, ADMIN, {"token_types": ["input", "output"],
                                             "claude_code_usage": "events",
                                             "codex_usage": "metrics"})
    assert answer.status == 200 and not answer.body
    config = admin_app.deps.store.configs.load()
    assert (config.token_types, config.claude_code_usage, config.codex_usage) == (
        ["input", "output"], "events", "metrics")
    changes = admin_app.deps.store.configs.history()[0]["changes"]
    assert "claude code usage metrics → events" in changes
    assert "codex usage events → metrics" in changes
    view = config_view(config)
    answer = submit(admin_app, view, ADMIN, {"pr_small_lines": "25", "pr_small_fraction": "0.1",
                                             "pr_self_merge_fraction": "0"})
    assert answer.status == 200 and not answer.body
    config = admin_app.deps.store.configs.load()
    assert (config.pr_small_lines, config.pr_small_fraction,
            config.pr_self_merge_fraction) == (25, 0.1, 0.0)
    # the fractions are scoring: the change is announced like a weight change
    assert admin_app.deps.store.configs.history()[0]["scoring"] is True
    reopened = config_view(config)
    boxes = next(b for b in reopened["blocks"] if b.get("block_id") == "token_types")
    assert [o["value"] for o in boxes["element"]["initial_options"]] == ["input", "output"]


@pytest.mark.slow
def test_digest_channel_without_the_bot_is_refused_until_it_is_invited(
        admin_app: App, channels: set[str]) -> None:
    view = config_view(admin_app.deps.store.configs.load())
    answer = submit(admin_app, view, ADMIN, {"digest_channel": "C0NEWCHAN"})
    body = answer.json()
    assert body["response_action"] == "errors" and list(body["errors"]) == ["digest_channel"]
    assert "/invite" in body["errors"]["digest_channel"]
    assert config_version(admin_app.deps) == 0
    [info] = admin_app.stub.calls("conversations.info")
    assert info.args["channel"] == "C0NEWCHAN"
    # A private channel the bot cannot even see: Slack answers channel_not_found.
    admin_app.stub.fail_next("conversations.info", "channel_not_found")
    body = submit(admin_app, view, ADMIN, {"digest_channel": "G0SECRET"}).json()
    assert list(body["errors"]) == ["digest_channel"] and "/invite" in body["errors"][
        "digest_channel"]
    assert config_version(admin_app.deps) == 0

    channels.add("C0NEWCHAN")  # after /invite @tokenboard
    answer = submit(admin_app, view, ADMIN, {"digest_channel": "C0NEWCHAN"})
    assert (answer.status, answer.body) == (200, b"")
    assert admin_app.deps.store.configs.load().digest_channel == "C0NEWCHAN"
