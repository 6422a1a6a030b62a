"""Admin configuration: the modal through signed Slack requests, authorization, the audit
trail, rescoring past periods, schedule changes across processes, opt-out, forget-me,
display modes, the digest note, App Home and `tokenboard config export/import`.

Real Redis and the Slack stub only. Every expected number is worked out by hand in the
comments next to it (points per person per day = weight × transform(min(count, cap))).
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import redis

from bot.core.config import DEFAULT_OUTCOMES, BoardConfig, OutcomeRule
from bot.core.periods import ALL, day_bucket
from bot.core.settings import Settings
from bot.intake.scoring import save_configuration
from bot.render.config_modal import config_view, kinds_page_view
from bot.runtime.app import build_deps
from bot.runtime.deps import Deps
from bot.slack.digest_schedule import current_schedule
from bot.sources.reports import OutcomeReport, UsageReport, as_counts
from bot.store.store import COUNTED, STALE_CONFIG
from handlers.admin import NOT_ADMIN
from jobs.digest import DigestRunner
from jobs.scheduler import DigestScheduler
from tests.conftest import App
from tests.rendered import shown
from tests.slack_stub import SlackStub
from tests.support.cli_runs import run as run_cli
from tests.support.digest_posts import posted_dates, posts
from tests.support.digests import CHANNEL
from tests.support.polling import wait_for
from tests.support.slack_app import board_lines, response_text
from tests.support.slack_interactions import (
    block_actions,
    open_home,
    opened_views,
    publishes_for,
    submit,
)
from tests.support.view_limits import check_view_limits, many_kinds_config

ADMIN = "U0ADMIN"
SQRT3 = math.sqrt(3)


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def admin_settings(settings: Settings) -> Settings:
    return replace(settings, admin_user_ids=(ADMIN,))


@pytest.fixture
def admin_deps(admin_settings: Settings, redis_client: redis.Redis) -> Deps:
    return build_deps(admin_settings, redis_client)


@pytest.fixture
def admin_app(admin_deps: Deps, stub: SlackStub) -> Iterator[App]:
    running = App(admin_deps, stub)
    yield running
    running.stop()


@pytest.fixture
def channels(stub: SlackStub) -> Iterator[set[str]]:
    """The stub's channels the bot is a member of; emptied before and after the test."""
    stub.member_channels.clear()
    yield stub.member_channels
    stub.member_channels.clear()


def at_noon(day: date) -> str:
    return datetime.combine(day, time(12), UTC).isoformat()


def outcome_points(deps: Deps, period: str) -> dict[str, float]:
    return {r.user: r.points for r in deps.leaderboards.period_board(period).board.outcome}


def bucket_points(deps: Deps, bucket) -> dict[str, float]:
    return {p.user: p.points for p in deps.store.reads.period_totals(bucket)}


def config_version(deps: Deps) -> int:
    return deps.store.configs.load_versioned()[1]


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


# -- who is an admin ---------------------------------------------------------------------------


@pytest.mark.slow
def test_non_admin_submission_is_refused_and_changes_nothing(admin_app: App) -> None:
    admin_app.stub.add_user("U0NOBODY", display_name="Nobody")
    view = config_view(admin_app.deps.store.configs.load())
    # private_metadata claims admin rights: it must not matter.
    forged = json.dumps({"page": 0, "admin": True, "user": ADMIN})
    answer = submit(admin_app, view, "U0NOBODY", {"weight:pr_merged": "8"},
                    private_metadata=forged)
    body = answer.json()
    assert body["response_action"] == "errors"
    assert list(body["errors"].values()) == [NOT_ADMIN]
    assert set(body["errors"]) <= {b["block_id"] for b in view["blocks"] if b["type"] == "input"}
    assert admin_app.deps.store.configs.load_versioned() == (BoardConfig(), 0)
    assert admin_app.deps.store.configs.history() == []

    # The pushed page of outcome kinds checks again, too.
    many = many_kinds_config(30)
    admin_app.deps.store.configs.save(many)
    page = kinds_page_view(many, 1)
    answer = submit(admin_app, page, "U0NOBODY", {"weight:k21": "9"})
    assert list(answer.json()["errors"].values()) == [NOT_ADMIN]
    assert admin_app.deps.store.configs.load_versioned() == (many, 1)
    # ... and a non-admin's click on "more kinds" pushes nothing.
    click = block_actions("U0NOBODY", "config_more_kinds", "1", "more_kinds",
                          view=config_view(many))
    assert admin_app.slack(click).status == 200
    assert admin_app.stub.calls("views.push") == []


@pytest.mark.slow
def test_opening_the_modal(admin_app: App) -> None:
    stub = admin_app.stub
    stub.add_user("U0NOBODY", display_name="Nobody")
    assert admin_app.command("config", user_id="U0NOBODY", name="refused").status == 200
    [reply] = wait_for(lambda: stub.responses("refused"))
    assert reply["text"] == NOT_ADMIN and reply["response_type"] == "ephemeral"
    assert stub.calls("views.open") == []

    admin_app.command("config", user_id=ADMIN, name="opened")
    [view] = wait_for(lambda: opened_views(stub))
    ids = check_view_limits(view)
    assert view["callback_id"] == "config_modal" and view["title"]["text"] \
        == "Configure tokenboard"
    for block_id in ("raw_metric", "new_kind", "remove_kinds", "digest_channel", "digest_time",
                     "timezone", "board_size", "digest_enabled", "display", "flags", "admins"):
        assert block_id in ids
    for kind in DEFAULT_OUTCOMES:
        assert {f"weight:{kind}", f"cap:{kind}", f"transform:{kind}"} <= set(ids)
    assert stub.responses("opened") == []

    # The App Home button opens it for admins only.
    clicks = [block_actions(ADMIN, "open_config", "open", "admin_actions"),
              block_actions("U0NOBODY", "open_config", "open", "admin_actions")]
    for body in clicks:
        assert admin_app.slack(body).status == 200
    assert len(stub.calls("views.open")) == 2  # the command above and the admin's click


@pytest.mark.slow
def test_workspace_admins_owners_and_configured_admins_count(app: App) -> None:
    stub = app.stub
    stub.add_user("U0WSADMIN", display_name="Admin", is_admin=True)
    stub.add_user("U0WSOWNER", display_name="Owner", is_owner=True)
    stub.add_user("U0LISTED", display_name="Listed")
    stub.add_user("U0MEMBER", display_name="Member")
    app.deps.store.configs.save(BoardConfig(admins=["U0LISTED"]))
    for user in ("U0WSADMIN", "U0WSOWNER", "U0LISTED", "U0MEMBER"):
        app.command("config", user_id=user, name=user)
    wait_for(lambda: len(stub.calls("views.open")) == 3 and stub.responses("U0MEMBER"))
    assert stub.responses("U0MEMBER")[0]["text"] == NOT_ADMIN
    for user in ("U0WSADMIN", "U0WSOWNER", "U0LISTED"):
        assert stub.responses(user) == []

    # The configured admin saves; once removed from the list they no longer can.
    view = config_view(app.deps.store.configs.load())
    assert submit(app, view, "U0LISTED", {"admins": []}).body == b""
    assert app.deps.store.configs.load().admins == []
    refused = submit(app, view, "U0LISTED", {"board_size": "20"}).json()
    assert list(refused["errors"].values()) == [NOT_ADMIN]
    assert app.deps.store.configs.load().board_size == 10


# -- many outcome kinds: Slack's limits and the pushed page ---------------------------------------


@pytest.mark.slow
def test_thirty_outcome_kinds_fit_and_the_rest_are_on_a_pushed_page(admin_app: App) -> None:
    stub, store = admin_app.stub, admin_app.deps.store
    config = many_kinds_config(30)
    kinds = list(config.outcomes)
    store.configs.save(config)
    admin_app.command("config", user_id=ADMIN, name="open")
    [view] = wait_for(lambda: opened_views(stub))
    ids = check_view_limits(view)
    # The main modal edits the first 20 kinds; the button leads to kinds 21-30.
    assert [i.split(":")[1] for i in ids if i.startswith("weight:")] == kinds[:20]
    [more] = [b for b in view["blocks"] if b.get("block_id") == "more_kinds"]
    [button] = more["elements"]
    assert button["action_id"] == "config_more_kinds" and button["value"] == "1"
    assert "21–30 of 30" in button["text"]["text"]

    click = block_actions(ADMIN, "config_more_kinds", "1", "more_kinds", view=view)
    assert admin_app.slack(click).status == 200
    [page] = opened_views(stub, "views.push")
    page_ids = check_view_limits(page)
    assert page["callback_id"] == "config_kinds"
    assert [i.split(":")[1] for i in page_ids if i.startswith("weight:")] == kinds[20:]
    assert "more_kinds" not in page_ids

    answer = submit(admin_app, page, ADMIN, {"weight:k25": "7", "cap:k25": "3",
                                             "transform:k25": "linear"})
    assert (answer.status, answer.body) == (200, b"")
    saved = store.configs.load()
    assert saved.outcomes["k25"] == OutcomeRule(label="Kind number 25", weight=7, cap=3,
                                                transform="linear")
    assert {k: r for k, r in saved.outcomes.items() if k != "k25"} == {
        k: r for k, r in config.outcomes.items() if k != "k25"}
    assert saved.model_dump(exclude={"outcomes"}) == config.model_dump(exclude={"outcomes"})
    [entry, _] = store.configs.history()
    assert entry["changes"] == ["k25 weight 1 → 7", "k25 cap 5 → 3",
                                "k25 transform sqrt → linear"]
    # An invalid value on the page is reported on its block.
    bad = submit(admin_app, page, ADMIN, {"cap:k30": "0"}).json()
    assert bad == {"response_action": "errors", "errors": {"cap:k30": bad["errors"]["cap:k30"]}}


# -- rescoring ------------------------------------------------------------------------------------


def record(deps: Deps, reports: list[tuple[UsageReport | OutcomeReport, str]]) -> None:
    config, version = deps.store.configs.load_versioned()
    events = [(as_counts(report), who) for report, who in reports]
    assert deps.store.counting.record(events, config, version) == [1] * len(reports)


def outcome(event_id: str, user: str, day: date, kind: str, count: int) -> tuple:
    ts = datetime.combine(day, time(12), UTC)
    return OutcomeReport(id=event_id, type="outcome", user=user, ts=ts, kind=kind,
                         count=count), user


@pytest.mark.slow
def test_ingest_goes_on_while_scores_are_rebuilt_and_uses_new_weights(admin_app: App) -> None:
    deps, store, r = admin_app.deps, admin_app.deps.store, admin_app.deps.store.r
    now = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    events = [{"id": "x1", "type": "usage", "user": "U0A", "ts": now, "tool": "t",
               "tokens": 1000},
              {"id": "x2", "type": "outcome", "user": "U0A", "ts": now, "kind": "pr_merged",
               "count": 1}]
    # A rebuild (of another process) is running: reports are counted all the same.
    _, version = store.configs.load_versioned()
    r.hset(store.keys.rebuild(), mapping={"token": "someone-else", "version": version,
                                          "metric": "points"})
    assert admin_app.ingest(events).json() == {"accepted": 2, "duplicates": 0, "rejected": []}
    r.delete(store.keys.rebuild())
    assert admin_app.ingest(events).json() == {"accepted": 0, "duplicates": 2, "rejected": []}
    assert outcome_points(deps, "today") == pytest.approx({"U0A": 5})  # 5·√1

    # Raise the weight without rebuilding: new events score with it at once.
    old_config, old_version = store.configs.load_versioned()
    result = save_configuration(store, old_config.model_copy(update={"outcomes": {
        **old_config.outcomes, "pr_merged": OutcomeRule(label="PRs merged", weight=8,
                                                        cap=10)}}), by=ADMIN)
    assert result.version == old_version + 1 and result.scoring
    more = [{"id": "x3", "type": "outcome", "user": "U0C", "ts": now, "kind": "pr_merged",
             "count": 1}]
    assert admin_app.ingest(more).json()["accepted"] == 1
    assert outcome_points(deps, "today")["U0C"] == pytest.approx(8)  # 8·√1

    # A writer still holding the old version is told to reload, and writes nothing.
    ts = datetime.now(UTC) - timedelta(minutes=1)
    stale = as_counts(OutcomeReport(id="x4", type="outcome", user="U0D", ts=ts,
                                    kind="pr_merged"))
    assert store.counting.record([(stale, "U0D")], old_config, old_version) == [STALE_CONFIG]
    assert "U0D" not in outcome_points(deps, "today")
    assert store.counting.record([(stale, "U0D")], *store.configs.load_versioned()) == [COUNTED]


# -- schedule changes across processes ----------------------------------------------------------


def test_schedule_change_reaches_another_process_which_posts_once(
        settings: Settings, redis_client: redis.Redis, redis_url: str,
        stub: SlackStub) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    # No channel at start-up, so the catch-up each start() queues posts nothing.
    proc_settings = replace(settings, timezone="Europe/Berlin", digest_channel="",
                            digest_time="09:00")
    clients = [redis.Redis.from_url(redis_url) for _ in range(2)]
    first, second = (build_deps(proc_settings, c) for c in clients)
    schedulers = [DigestScheduler(d, DigestRunner(d, owner=f"proc-{i}"))
                  for i, d in enumerate((first, second))]
    # Three hours from now (local): never within the catch-up window at the save, and not
    # due while the test runs.
    new_local = datetime.now(berlin) + timedelta(hours=3)
    new_time = f"{new_local:%H:%M}"
    try:
        for s in schedulers:
            s.start()
        old_config = first.store.configs.load()
        result = save_configuration(first.store, old_config.model_copy(update={
            "digest_time": new_time, "digest_channel": CHANNEL}), by=ADMIN)
        assert result.version == 1
        assert f"digest time none → {new_time}" in result.changes

        assert schedulers[1].sync() is True  # the other process re-reads the schedule
        assert schedulers[1].sync() is False
        job = schedulers[1].scheduler.get_job("digest")
        assert job is not None
        fire_at = job.next_run_time.astimezone(berlin)
        assert f"{fire_at:%H:%M}" == new_time
        assert timedelta(0) < fire_at - datetime.now(berlin) <= timedelta(hours=4)  # DST: ±1h
        assert schedulers[0].sync() is True
        first_job = schedulers[0].scheduler.get_job("digest")
        assert first_job is not None and first_job.next_run_time == job.next_run_time
    finally:
        for s in schedulers:
            s.stop()

    # Both fire at that instant: exactly one post, for the local day before.
    barrier = threading.Barrier(2)
    statuses: list[str] = []

    def fire(scheduler: DigestScheduler) -> None:
        barrier.wait(timeout=10)
        done = scheduler.fire(now=fire_at)
        statuses.append(done.status if done else "none")

    threads = [threading.Thread(target=fire, args=(s,)) for s in schedulers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    for c in clients:
        c.close()
    assert sorted(statuses)[-1] == "posted" and statuses.count("posted") == 1
    assert set(statuses) <= {"posted", "claimed_elsewhere", "already_posted"}
    assert posted_dates(stub) == [(fire_at.date() - timedelta(days=1)).isoformat()]
    assert posts(stub)[0]["channel"] == CHANNEL


# -- opt-out and forget-me ----------------------------------------------------------------------


def seed_now(app: App, people: dict[str, tuple[int, int]], prefix: str = "") -> None:
    """people: user -> (tokens, merged PRs), reported a minute ago."""
    ts = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    events = []
    for i, (user, (tokens, prs)) in enumerate(people.items()):
        events.append({"id": f"{prefix}u{i}", "type": "usage", "user": user, "ts": ts,
                       "tool": "t", "tokens": tokens})
        if prs:
            events.append({"id": f"{prefix}o{i}", "type": "outcome", "user": user, "ts": ts,
                           "kind": "pr_merged", "count": prs})
    assert app.ingest(events).json()["accepted"] == len(events)


def reply(app: App, text: str, user: str, name: str) -> dict:
    assert app.command(text, user_id=user, name=name).status == 200
    return wait_for(lambda: app.stub.responses(name))[0]


@pytest.mark.slow
def test_opt_out_hides_a_person_from_others_and_from_the_digest(app: App) -> None:
    for uid, name in (("U0OLGA", "Olga"), ("U0SAM", "Sam"), ("U0TIA", "Tia")):
        app.stub.add_user(uid, display_name=name)
    seed_now(app, {"U0OLGA": (9000, 1), "U0SAM": (3000, 0), "U0TIA": (1000, 4)})
    today = datetime.now(UTC).date()

    answer = reply(app, "optout", "U0OLGA", "out")
    assert "left out" in answer["text"] and answer["response_type"] == "ephemeral"

    seen_by_sam = response_text(reply(app, "today", "U0SAM", "sam1"))
    assert "Sam" in seen_by_sam and "Tia" in seen_by_sam
    assert "Olga" not in seen_by_sam and "U0OLGA" not in seen_by_sam
    assert "(2 active)" in seen_by_sam  # Sam and Tia only
    # Olga still sees her own numbers: #1 of 3 by usage, 5·√1 = 5 points (Tia 10 is #1).
    mine = response_text(reply(app, "me today", "U0OLGA", "olga-me"))
    assert "#1 of 3 by usage (9.0k tokens), #2 by outcomes (5 pts)" in mine
    assert "Olga" in response_text(reply(app, "today", "U0OLGA", "olga-board"))

    built = DigestRunner(app.deps).build(today)
    shown = json.dumps(built.blocks, ensure_ascii=False) + built.text + built.alt
    assert "Olga" not in shown and "U0OLGA" not in shown
    assert "Sam" in shown and "(2 active)" in shown  # Sam and Tia: too few for a ρ

    reply(app, "optin", "U0OLGA", "in")
    back = response_text(reply(app, "today", "U0SAM", "sam2"))
    assert "Olga" in back and "(3 active)" in back
    assert "Olga" in json.dumps(DigestRunner(app.deps).build(today, with_chart=False).blocks)


def snapshot(r: redis.Redis) -> dict[str, object]:
    """Every key and its content, but for request bookkeeping (replay marks, rate limits)."""
    out: dict[str, object] = {}
    for raw in r.scan_iter(count=1000):
        key = raw.decode()
        if ":replay:" in key or ":rate:" in key:
            continue
        kind = r.type(raw).decode()
        if kind == "zset":
            out[key] = {m.decode(): s for m, s in r.zrange(raw, 0, -1, withscores=True)}
        elif kind == "hash":
            out[key] = {k.decode("latin-1"): v.decode("latin-1")  # event ids are binary
                        for k, v in r.hgetall(raw).items()}
        elif kind == "set":
            out[key] = sorted(m.decode() for m in r.smembers(raw))
        elif kind == "list":
            out[key] = [x.decode() for x in r.lrange(raw, 0, -1)]
        else:
            out[key] = r.get(raw).decode()  # type: ignore[union-attr]
    return out


@pytest.mark.slow
def test_forget_me_removes_every_key_and_entry_after_confirmation(app: App) -> None:
    stub, store, r = app.stub, app.deps.store, app.deps.store.r
    stub.add_user("U0GONE", display_name="Gone", email="gone@example.com")
    stub.add_user("U0KEEP", display_name="Keep")
    seed_now(app, {"U0GONE": (5000, 2), "U0KEEP": (7000, 1)}, prefix="now-")
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    assert app.ingest([
        {"id": "y1", "type": "outcome", "email": "gone@example.com", "ts": at_noon(yesterday),
         "kind": "deploy", "count": 2},
        {"id": "y2", "type": "usage", "user": "U0KEEP", "ts": at_noon(yesterday), "tool": "t",
         "tokens": 100},
    ]).json()["accepted"] == 2
    reply(app, "today", "U0KEEP", "cache-names")  # caches both profiles
    reply(app, "optout", "U0GONE", "out")

    answer = app.command("forget-me", user_id="U0GONE", name="forget")
    prompt = answer.json()
    assert prompt["response_type"] == "ephemeral"
    buttons = {e["action_id"]: e for b in prompt["blocks"] if b["type"] == "actions"
               for e in b["elements"]}
    assert set(buttons) == {"forget_me_confirm", "forget_me_cancel"}

    before = snapshot(r)
    gone_keys = [k for k in before if "U0GONE" in k or "gone@example.com" in k]
    zsets_with_gone = [k for k, v in before.items() if isinstance(v, dict) and "U0GONE" in v]
    days_with_gone = [k for k in zsets_with_gone if k.startswith(store.keys.key("days"))]
    # The cached profile and the email → id cache; the days today and yesterday.
    assert len(gone_keys) == 2 and len(days_with_gone) == 2
    assert len(zsets_with_gone) > 2

    click = block_actions("U0GONE", "forget_me_cancel", "cancel", "forget_me",
                          response_url=stub.response_url("cancel"))
    assert app.slack(click).status == 200
    assert stub.responses("cancel")[0]["text"] == "Nothing was deleted."
    assert snapshot(r) == before

    click = block_actions("U0GONE", "forget_me_confirm", "confirm", "forget_me",
                          response_url=stub.response_url("confirm"))
    assert app.slack(click).status == 200
    [done] = stub.responses("confirm")
    assert done["replace_original"] is True
    # One removal per zset membership plus one per key.
    assert f"deleted {len(zsets_with_gone) + len(gone_keys)} stored entries" in done["text"]

    after = snapshot(r)
    assert [k for k in after if "U0GONE" in k or "gone@example.com" in k] == []
    assert [k for k, v in after.items() if "U0GONE" in json.dumps(v)] == []
    # Everyone else's data is exactly as before (the generation counter moves on).
    expected = {}
    for key, value in before.items():
        if key in gone_keys or key == store.keys.key("gen"):
            continue
        if isinstance(value, dict) and key.startswith((store.keys.key("z"),
                                                       store.keys.key("days"))):
            value = {m: s for m, s in value.items() if m != "U0GONE"}
            if not value:
                continue
        if key.startswith(store.keys.key("days")) and "n" in value:  # a day's directory
            value = {**value, "n": str(int(value["n"]) - 1)}  # type: ignore[dict-item]
        if key == store.keys.key("optout"):
            value = [m for m in value if m != "U0GONE"]  # type: ignore[union-attr]
            if not value:
                continue
        expected[key] = value
    assert {k: v for k, v in after.items() if k != store.keys.key("gen")} == expected
    assert bucket_points(app.deps, ALL) == {"U0KEEP": pytest.approx(5)}  # 5·√1


# -- display modes --------------------------------------------------------------------------------


def labels(lines: list[str]) -> list[str]:
    """The person column of board lines like '` 1.` Alma · 9.0k tokens · ↓2'."""
    return [re.match(r"`\s*\d+\.` (.*?) · ", line).group(1)  # type: ignore[union-attr]
            for line in lines]


@pytest.mark.slow
def test_display_modes(app: App) -> None:
    for uid, name in (("U0DA", "Alma"), ("U0DB", "Bruno"), ("U0DC", "Chen")):
        app.stub.add_user(uid, display_name=name)
    # Tokens A 9000 > B 5000 > C 1000; points B 5·√4 = 10 > C 5·√1 = 5 > A 0.
    seed_now(app, {"U0DA": (9000, 0), "U0DB": (5000, 4), "U0DC": (1000, 1)})

    app.deps.store.configs.save(BoardConfig(display="anonymous"))
    seen = reply(app, "today", "U0DB", "anon")
    left, right = board_lines(seen)
    assert ["someone · 9.0k tokens" in left[0], "*you* (Bruno) · 5.0k tokens" in left[1],
            "someone · 1.0k tokens" in left[2]] == [True] * 3
    assert ["*you* (Bruno) · 10 pts" in right[0], "someone · 5 pts" in right[1],
            "someone · 0 pts" in right[2]] == [True] * 3
    text = response_text(seen)
    assert not any(n in text for n in ("Alma", "Chen", "U0DA", "U0DC", "<@"))

    app.deps.store.configs.save(BoardConfig(display="mentions"))
    left, right = board_lines(reply(app, "today", "U0DB", "mention"))
    assert labels(left) == ["<@U0DA>", "<@U0DB>",
                                                                      "<@U0DC>"]
    assert labels(right) == ["<@U0DB>", "<@U0DC>",
                                                                       "<@U0DA>"]

    app.deps.store.configs.save(BoardConfig(display="names"))
    seen = reply(app, "today", "U0DB", "names")
    left, _ = board_lines(seen)
    assert labels(left) == ["Alma", "Bruno", "Chen"]
    assert "<@" not in response_text(seen)


@pytest.mark.slow
def test_anonymous_digest_names_nobody(app: App) -> None:
    for uid, name in (("U0DA", "Alma"), ("U0DB", "Bruno"), ("U0DC", "Chen")):
        app.stub.add_user(uid, display_name=name)
    seed_now(app, {"U0DA": (9000, 0), "U0DB": (5000, 4), "U0DC": (1000, 1)})
    app.deps.store.configs.save(BoardConfig(display="anonymous"))
    built = DigestRunner(app.deps).build(datetime.now(UTC).date())
    assert "Alma" not in json.dumps(built.blocks)  # the boards are anonymous ...
    assert not any(n in built.alt for n in ("Alma", "Bruno", "Chen"))  # ... the chart is not


@pytest.mark.slow
def test_digest_mentions_people_only_when_an_admin_chose_mentions(app: App) -> None:
    for uid, name in (("U0DA", "Alma"), ("U0DB", "Bruno")):
        app.stub.add_user(uid, display_name=name)
    seed_now(app, {"U0DA": (9000, 0), "U0DB": (5000, 4)})
    built = DigestRunner(app.deps).build(datetime.now(UTC).date(), with_chart=False)
    assert "<@" not in json.dumps(built.blocks)  # the default: plain names, no pings
    app.deps.store.configs.save(BoardConfig(display="mentions"))
    built = DigestRunner(app.deps).build(datetime.now(UTC).date(), with_chart=False)
    text = json.dumps(built.blocks)
    assert "<@U0DA>" in text and "<@U0DB>" in text and "Alma" not in text


# -- the digest mentions weight changes ----------------------------------------------------------


def test_digest_mentions_a_weight_change_since_the_previous_digest(
        settings: Settings, redis_client: redis.Redis, stub: SlackStub) -> None:
    deps = build_deps(replace(settings, digest_channel=CHANNEL), redis_client)
    today = datetime.now(UTC).date()
    yesterday = today - timedelta(days=1)
    record(deps, [outcome("p1", "U0A", yesterday, "pr_merged", 1),
                  outcome("p2", "U0B", today, "review", 1)])
    config = deps.store.configs.load()
    save_configuration(deps.store, config.model_copy(update={
        "display": "anonymous",
        "outcomes": {**config.outcomes, "pr_merged": OutcomeRule(label="PRs merged", weight=8,
                                                                 cap=10)}}), by=ADMIN)
    runner = DigestRunner(deps)
    built = runner.build(yesterday, with_chart=False)
    text = shown(json.dumps(built.blocks, ensure_ascii=False))
    assert "Scoring changed since the last digest" in text
    assert "pr_merged weight 5 → 8" in text
    assert "display" not in text.lower().split("scoring changed")[1]  # not a scoring change

    assert runner.run(yesterday).status == "posted"
    assert "pr_merged weight 5 → 8" in shown(json.dumps(posts(stub)[0]["blocks"],
                                                         ensure_ascii=False))
    # The next digest has already announced nothing new.
    later = shown(json.dumps(runner.build(today, with_chart=False).blocks, ensure_ascii=False))
    assert "Scoring changed" not in later and "pr_merged weight" not in later


def test_weight_change_before_a_quiet_day_is_still_announced(
        settings: Settings, redis_client: redis.Redis, stub: SlackStub) -> None:
    deps = build_deps(replace(settings, digest_channel=CHANNEL), redis_client)
    today = datetime.now(UTC).date()
    record(deps, [outcome("p1", "U0A", today, "pr_merged", 1)])
    config = deps.store.configs.load()
    save_configuration(deps.store, config.model_copy(update={"outcomes": {
        **config.outcomes, "pr_merged": OutcomeRule(label="PRs merged", weight=8, cap=10)}}),
        by=ADMIN)
    runner = DigestRunner(deps)
    assert runner.run(today - timedelta(days=1)).status == "posted"  # a quiet day
    announced = [p for p in posts(stub) if "pr_merged weight 5 → 8" in shown(json.dumps(
        p["blocks"], ensure_ascii=False))]
    if not announced:  # then at least the next digest must say it
        announced = [b for b in runner.build(today, with_chart=False).blocks
                     if "pr_merged weight 5 → 8" in shown(json.dumps(b, ensure_ascii=False))]
    assert announced


@pytest.mark.slow
def test_app_home_shows_admins_the_last_changes_and_the_button(app: App) -> None:
    app.stub.add_user("U0ANA", display_name="Ana", is_admin=True)
    app.stub.add_user("U0BOB", display_name="Bob")
    view = config_view(app.deps.store.configs.load())
    submit(app, view, "U0ANA", {"weight:pr_merged": "8"})
    # The save itself refreshed Ana's home.
    assert "Ana: pr_merged weight 5 → 8" in shown(json.dumps(
        publishes_for(app.stub, "U0ANA")[-1], ensure_ascii=False))
    home = open_home(app, "U0ANA", "EvAna")
    assert "Ana: pr_merged weight 5 → 8" in home
    assert "Configure tokenboard" in home and '"open_config"' in home

    home = open_home(app, "U0BOB", "EvBob")
    assert "pr_merged weight" not in home
    assert "Configure tokenboard" not in home and "open_config" not in home


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


@pytest.mark.slow
def test_a_form_opened_before_another_admins_save_cannot_undo_it(app: App) -> None:
    app.stub.add_user("U0ANA", display_name="Ana", is_admin=True)
    app.stub.add_user("U0BEN", display_name="Ben", is_admin=True)
    config, version = app.deps.store.configs.load_versioned()
    stale_form = config_view(config, version=version)  # Ana opens the form at version 0
    # Ben saves first: review weight 2 → 4.
    assert submit(app, config_view(config, version=version), "U0BEN",
                  {"weight:review": "4"}).body == b""
    # Ana's form still shows review weight 2; saving it would put 2 back.
    answer = submit(app, stale_form, "U0ANA", {"weight:pr_merged": "8"}).json()
    assert answer["response_action"] == "errors"
    [message] = answer["errors"].values()
    assert "Ben changed the configuration" in message and "review weight 2 → 4" in message
    saved = app.deps.store.configs.load()
    assert saved.outcomes["review"].weight == 4 and saved.outcomes["pr_merged"].weight == 5
    # Reopened at the new version, her change goes through and keeps Ben's.
    fresh_config, fresh_version = app.deps.store.configs.load_versioned()
    assert submit(app, config_view(fresh_config, version=fresh_version), "U0ANA",
                  {"weight:pr_merged": "8"}).body == b""
    saved = app.deps.store.configs.load()
    assert saved.outcomes["review"].weight == 4 and saved.outcomes["pr_merged"].weight == 8
    # Her own later saves never count as a conflict with her own form.
    assert submit(app, config_view(fresh_config, version=fresh_version), "U0ANA",
                  {"weight:pr_merged": "9"}).body == b""


@pytest.mark.slow
def test_a_demoted_workspace_admin_is_refused_although_the_profile_is_cached(
        app: App) -> None:
    app.stub.add_user("U0EX", display_name="Ex", is_admin=True)
    assert app.deps.is_admin("U0EX")  # cached for a day as an admin
    app.stub.add_user("U0EX", display_name="Ex", is_admin=False)  # demoted in Slack
    answer = submit(app, config_view(app.deps.store.configs.load()), "U0EX",
                    {"weight:pr_merged": "8"}).json()
    assert list(answer["errors"].values()) == [NOT_ADMIN]
    assert app.deps.store.configs.history() == []


@pytest.mark.slow
def test_the_rules_against_cheap_outcomes_page(admin_app: App) -> None:
    stub, store = admin_app.stub, admin_app.deps.store
    admin_app.command("config", user_id=ADMIN, name="open")
    [view] = wait_for(lambda: opened_views(stub))
    [rules] = [b for b in view["blocks"] if b.get("block_id") == "rules"]
    assert rules["elements"][0]["action_id"] == "config_open_rules"
    click = block_actions(ADMIN, "config_open_rules", "rules", "rules", view=view)
    assert admin_app.slack(click).status == 200
    [page] = opened_views(stub, "views.push")
    ids = check_view_limits(page)
    assert page["callback_id"] == "config_rules"
    assert {"review_quick_minutes", "review_pair_cap", "deploy_environments",
            "incident_low_urgency_fraction", "counterweight_incident"} <= set(ids)
    answer = submit(admin_app, page, ADMIN, {"review_quick_minutes": "10",
                                             "deploy_environments": "production, Prod EU",
                                             "incident_self_fraction": "0"})
    assert (answer.status, answer.body) == (200, b"")
    saved = store.configs.load()
    assert (saved.review_quick_minutes, saved.deploy_environments,
            saved.incident_self_fraction) == (10, ["production", "prod_eu"], 0.0)
    [entry, *_] = store.configs.history()
    assert entry["scoring"] is True
    assert entry["changes"] == ["review quick minutes 5 → 10", "deploy environments "
                                "production, prod, live → production, prod_eu",
                                "incident self fraction 0.1 → 0"]
    bad = submit(admin_app, page, ADMIN, {"ticket_unlinked_fraction": "1.5"}).json()
    assert list(bad["errors"]) == ["ticket_unlinked_fraction"]


@pytest.mark.slow
def test_the_sources_of_each_tool_page(admin_app: App) -> None:
    stub, store = admin_app.stub, admin_app.deps.store
    store.pulls.claim_tool("claude_code", "otlp")  # OpenTelemetry was heard first
    admin_app.command("config", user_id=ADMIN, name="open")
    [view] = wait_for(lambda: opened_views(stub))
    [button] = [b for b in view["blocks"] if b.get("block_id") == "tool_sources"]
    assert button["elements"][0]["action_id"] == "config_open_tools"
    click = block_actions(ADMIN, "config_open_tools", "tools", "tool_sources", view=view)
    assert admin_app.slack(click).status == 200
    [page] = wait_for(lambda: opened_views(stub, "views.push"))
    assert page["callback_id"] == "config_tools"
    assert check_view_limits(page) == ["source:claude_code", "source:copilot",
                                       "source:cursor", "source:openai"]
    claude = next(b for b in page["blocks"] if b.get("block_id") == "source:claude_code")
    assert claude["element"]["initial_option"]["text"]["text"] == (
        "First heard from (currently: OpenTelemetry)")
    answer = submit(admin_app, page, ADMIN, {"source:claude_code": "claude-code"})
    assert (answer.status, answer.body) == (200, b"")
    assert store.configs.load().tool_sources == {"claude_code": "claude-code"}
    [entry, *_] = store.configs.history()
    assert entry["changes"] == [
        "claude_code counts from claude-code (was the source first heard from)"]
    # /ingest's Claude Code usage is now left out, other tools' counted
    ts = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    answer = admin_app.ingest([
        {"id": "cc", "type": "usage", "user": "U0ANA", "ts": ts, "tool": "Claude Code",
         "tokens": 10},
        {"id": "mc", "type": "usage", "user": "U0ANA", "ts": ts, "tool": "meshclaw",
         "tokens": 5}]).json()
    assert answer["accepted"] == 1 and [r["id"] for r in answer["rejected"]] == ["cc"]
    assert "counts from the Claude Code Analytics API, not from /ingest" in (
        answer["rejected"][0]["error"])
    again = submit(admin_app, page, ADMIN, {"source:claude_code": "first",
                                            "source:cursor": "cursor"})
    assert (again.status, again.body) == (200, b"") and store.configs.load().tool_sources == {
        "cursor": "cursor"}
