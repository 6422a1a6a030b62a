"""App Home on the first run: the admin's connect checklist and everyone's 30-day ranks.

Real Redis, the real app behind its HTTP server, the Slack stub. Expected ranks are
worked out by hand in comments, or by ranking the whole day board with `rank_board`
(which the per-viewer reads must agree with).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
import redis

from bot.core.settings import Settings
from bot.runtime.app import build_deps
from bot.runtime.deps import Deps
from tests.conftest import App
from tests.slack_stub import SlackStub
from tests.support.day_reports import outcome, record, usage
from tests.support.polling import wait_for
from tests.support.slack_interactions import block_actions, open_home, publishes_for

ADMIN = "U0ADMIN"
CHANNEL = "C0DIGEST"


@pytest.fixture
def setup_settings(settings: Settings) -> Settings:
    return replace(settings, admin_user_ids=(ADMIN,), digest_channel=CHANNEL,
                   public_url="https://tb.example.com", github_webhook_secret="gh-secret")


@pytest.fixture
def setup_app(setup_settings: Settings, redis_client: redis.Redis,
              stub: SlackStub) -> Iterator[App]:
    stub.member_channels.clear()
    running = App(build_deps(setup_settings, redis_client), stub)
    yield running
    running.stop()
    stub.member_channels.clear()


def last_view(app: App, user: str) -> dict:
    return publishes_for(app.stub, user)[-1]


# -- the admin's checklist ----------------------------------------------------------------------


@pytest.mark.slow
def test_admin_sees_the_full_checklist_with_values_to_paste_until_data_arrives(
        setup_app: App) -> None:
    home = open_home(setup_app, ADMIN, "EvFirst")
    assert "Connect tokenboard" in home and "Nothing has been reported yet" in home
    assert "`https://tb.example.com/ingest`" in home
    assert "`tokenboard tokens create NAME`" in home
    assert "`OTEL_EXPORTER_OTLP_ENDPOINT=https://tb.example.com`" in home
    assert "`OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer TOKEN`" in home
    for source in ("github", "gitlab", "pagerduty"):
        assert f"`https://tb.example.com/webhooks/{source}`" in home
    assert "`GITHUB_WEBHOOK_SECRET` is set" in home
    assert "`GITLAB_WEBHOOK_TOKEN` is not set" in home
    assert "`PAGERDUTY_WEBHOOK_SECRET` is not set" in home
    assert "`ai_usage_reported`" in home
    assert home.count("not heard from yet") == 6  # ingest, otlp, 3 webhooks, Slack
    # the digest channel, and that the bot is not in it
    assert f"<#{CHANNEL}>: :warning: the bot is not in it" in home

    # The first report arrives over HTTP: from now on, one status line per source.
    assert setup_app.ingest([{"id": "u1", "type": "usage", "user": "U0ANA", "tool": "t",
                              "tokens": 100, "ts": datetime.now(UTC).isoformat()}]).status == 200
    home = open_home(setup_app, ADMIN, "EvSecond")
    assert "Connect tokenboard" not in home and "https://tb.example.com" not in home
    assert "• HTTP `POST /ingest`: :white_check_mark: heard just now" in home
    assert "• OpenTelemetry (Claude Code, Gemini CLI, GenAI apps): :white_circle: not heard " \
           "from yet" in home
    assert "• GitHub webhook: :white_circle: not heard from yet" in home  # its secret is set
    assert "• GitLab webhook: off (`GITLAB_WEBHOOK_TOKEN` not set)" in home


@pytest.mark.slow
def test_placeholders_when_public_url_is_unset(setup_app: App, settings: Settings) -> None:
    setup_app.deps.settings = replace(setup_app.deps.settings, public_url="")
    view = open_home(setup_app, ADMIN, "EvNoUrl")
    assert "`https://<your-host>/ingest`" in view
    assert "`https://<your-host>/webhooks/gitlab`" in view
    assert "Set `PUBLIC_URL`" in view


@pytest.mark.slow
def test_nobody_else_sees_the_checklist(setup_app: App) -> None:
    setup_app.stub.add_user("U0BOB", display_name="Bob")
    home = open_home(setup_app, "U0BOB", "EvBob")
    assert "Connect tokenboard" not in home and "/ingest" not in home
    assert not setup_app.stub.calls("conversations.info")


@pytest.mark.slow
def test_channel_membership_is_asked_once_a_minute(setup_app: App) -> None:
    open_home(setup_app, ADMIN, "EvC1")
    open_home(setup_app, ADMIN, "EvC2")
    assert len(setup_app.stub.calls("conversations.info")) == 1  # the second open: cached
    setup_app.stub.member_channels.add(CHANNEL)
    # a minute later (the cached answer expired)
    setup_app.deps.store.r.delete(setup_app.deps.store.keys.channel_check(CHANNEL))
    home = open_home(setup_app, ADMIN, "EvC3")
    assert f"<#{CHANNEL}>: :white_check_mark: the bot is in it" in home
    assert len(setup_app.stub.calls("conversations.info")) == 2
    ttl = setup_app.deps.store.r.ttl(setup_app.deps.store.keys.channel_check(CHANNEL))
    assert 0 < ttl <= 60


# -- everyone's ranks over 30 days --------------------------------------------------------------


def seed_history(deps: Deps, viewer: str = "U0VIEWER") -> tuple[date, date]:
    today = datetime.now(UTC).date()
    d1, d2 = today - timedelta(days=2), today - timedelta(days=1)
    record(deps, [
        usage("h1", viewer, d1, 100), usage("h2", "U0A", d1, 200),  # viewer 2nd, 1st
        outcome("h3", viewer, d1, "review"),
        usage("h4", viewer, d2, 300), usage("h5", "U0A", d2, 200),  # viewer 1st, 2nd
        outcome("h6", "U0A", d2, "review"),
    ])
    return d1, d2


@pytest.mark.slow
def test_home_shows_the_viewer_their_rank_chart(app: App) -> None:
    seed_history(app.deps)
    home = open_home(app, "U0VIEWER", "EvChart1")
    assert "Your rank, last 30 days" in home
    uploads = app.stub.uploads()
    assert len(uploads) == 1
    file_id, png = next(iter(uploads.items()))
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    # uploaded to no channel (private to the bot), shown through slack_file
    complete = app.stub.calls("files.completeUploadExternal")[0].args
    assert not complete.get("channel_id") and not complete.get("channels")
    images = [b for b in last_view(app, "U0VIEWER")["blocks"] if b["type"] == "image"]
    assert images == [{"type": "image", "block_id": "rank_chart",
                       "slack_file": {"id": file_id}, "alt_text": images[0]["alt_text"]}]
    assert "#1 by usage, #2 by outcomes" in images[0]["alt_text"]

    open_home(app, "U0VIEWER", "EvChart2")  # same ranks: the same file, no new upload
    assert len(app.stub.calls("files.getUploadURLExternal")) == 1
    assert json.dumps(last_view(app, "U0VIEWER")).count(file_id) == 1

    # New data for yesterday changes the ranks: a new chart, the old file deleted.
    record(app.deps, [usage("h7", "U0B", datetime.now(UTC).date() - timedelta(days=1), 999)])
    open_home(app, "U0VIEWER", "EvChart3")
    assert len(app.stub.calls("files.getUploadURLExternal")) == 2
    assert [c.args["file"] for c in app.stub.calls("files.delete")] == [file_id]
    assert file_id not in app.stub.files() and len(app.stub.files()) == 1


@pytest.mark.slow
def test_without_files_write_the_ranks_show_as_a_sparkline(app: App) -> None:
    seed_history(app.deps)
    app.stub.fail_next("files.getUploadURLExternal", "missing_scope")
    home = open_home(app, "U0VIEWER", "EvSpark")
    blocks = last_view(app, "U0VIEWER")["blocks"]
    assert not [b for b in blocks if b["type"] == "image"]
    # 28 days off the boards, then ranks 2 and 1 by usage (1 and 2 by outcomes)
    assert "`" + "·" * 28 + "▁█` by usage (tokens)" in home
    assert "`" + "·" * 28 + "█▁` by outcomes" in home
    # refused once: not tried again on the next open
    open_home(app, "U0VIEWER", "EvSpark2")
    assert len(app.stub.calls("files.getUploadURLExternal")) == 1


@pytest.mark.slow
def test_a_chart_slack_will_not_show_yet_falls_back_to_text(app: App) -> None:
    seed_history(app.deps)
    pending: list[str] = []  # the upload succeeds, but Slack is still processing the file

    def processing() -> None:
        pending.extend(app.stub.uploads())
        for file_id in pending:
            app.stub.still_processing(file_id)

    app.stub.on_next_call("views.publish", processing)
    open_home(app, "U0VIEWER", "EvSlow")
    # refused, then published again with the text instead
    views = wait_for(lambda: publishes_for(app.stub, "U0VIEWER")[1:])
    assert "`" + "·" * 28 + "▁█` by usage (tokens)" in json.dumps(views[0], ensure_ascii=False)
    assert not [b for b in views[0]["blocks"] if b["type"] == "image"]
    app.stub.still_processing(pending[0], False)
    open_home(app, "U0VIEWER", "EvSlow2")  # forgotten: uploaded afresh, shown
    assert len(app.stub.calls("files.getUploadURLExternal")) == 2
    assert [b["type"] for b in last_view(app, "U0VIEWER")["blocks"]].count("image") == 1


@pytest.mark.slow
def test_someone_without_ranks_gets_a_line_not_a_chart(app: App) -> None:
    home = open_home(app, "U0NEW", "EvNew")
    assert "Not on the boards in the last 30 days" in home
    assert not app.stub.calls("files.getUploadURLExternal")


@pytest.mark.slow
def test_forget_me_forgets_the_chart(app: App) -> None:
    seed_history(app.deps)
    open_home(app, "U0VIEWER", "EvForget")
    key = app.deps.store.keys.rank_chart("U0VIEWER")
    assert app.deps.store.r.exists(key)
    file_id = app.deps.store.r.hget(key, "file").decode()
    # the real forget-me flow: the confirm button also deletes the file on Slack
    click = block_actions("U0VIEWER", "forget_me_confirm", "confirm", "forget_me",
                          response_url=app.stub.response_url("forget"))
    assert app.slack(click).status == 200
    wait_for(lambda: app.stub.responses("forget"))
    assert not app.deps.store.r.exists(key)
    assert [c.args["file"] for c in app.stub.calls("files.delete")] == [file_id]
