"""The board in Slack: period buttons, Share in channel, the chart in the reply, the
agreement in words, periods named as people say them, and the chart itself."""

from __future__ import annotations

import json

import pytest

from bot.render.config_modal import config_view
from handlers.commands import SHARING_OFF
from tests.conftest import App
from tests.support.polling import wait_for
from tests.support.slack_app import (
    NAMES,
    TS,
    board_lines,
    buttons,
    first_reply,
    response_text,
    seeded,
    set_config,
)
from tests.support.slack_interactions import block_actions, submit

pytestmark = pytest.mark.slow  # starts the app's HTTP server


def click(app: App, user: str, action_id: str, value: str, name: str) -> None:
    body = block_actions(user, action_id, value, "leaderboard_actions",
                         response_url=app.stub.response_url(name))
    assert app.slack(body).status == 200


# -- period buttons --------------------------------------------------------------------------


def test_period_buttons_replace_the_private_reply_in_place(app: App) -> None:
    seeded(app)
    reply = first_reply(app, "today", "U0ANA", "cmd")
    found = buttons(reply)
    assert {k: v["value"] for k, v in found.items()} == {
        "leaderboard_period_today": "today", "leaderboard_period_week": "week",
        "leaderboard_period_month": "month", "leaderboard_period_all": "all",
        "leaderboard_share": "today"}
    assert found["leaderboard_period_today"].get("style") == "primary"
    assert reply["replace_original"] is False

    click(app, "U0ANA", "leaderboard_period_all", "all", "switch")
    switched = wait_for(lambda: app.stub.responses("switch"))[0]
    assert switched["replace_original"] is True and switched["response_type"] == "ephemeral"
    assert switched["blocks"][0]["text"]["text"] == "Leaderboard · All time"
    assert buttons(switched)["leaderboard_period_all"].get("style") == "primary"
    assert "style" not in buttons(switched)["leaderboard_period_today"]
    # same people, same board: Fox has the most tokens, Cy the most points (5·√9 = 15)
    left, right = board_lines(switched)
    assert "Fox Mori" in left[0] and "Cy Park" in right[0]


# -- share in channel ---------------------------------------------------------------------------


def test_share_posts_the_board_in_the_channel_anonymously(app: App) -> None:
    seeded(app)
    set_config(app, display="anonymous", flags="admins", admins=["U0ANA"])
    reply = first_reply(app, "today", "U0ANA", "cmd")
    assert "⚑" in response_text(reply)  # an admin sees the flags privately
    click(app, "U0ANA", "leaderboard_share", "today", "share")
    [post] = wait_for(lambda: app.stub.calls("chat.postMessage"))
    assert post.args["channel"] == "C0TEST"  # where the command was typed
    shown = post.args["text"] + json.dumps(post.args["blocks"], ensure_ascii=False)
    for uid, name in NAMES.items():
        assert name not in shown and uid not in shown
    assert "someone" in shown and "⚑" not in shown  # flags are for admins only
    assert post.args["text"].startswith("Leaderboard · Today")
    confirmation = wait_for(lambda: app.stub.responses("share"))[0]
    assert confirmation["text"].startswith("Shared the board for today in <#C0TEST>")
    assert confirmation["replace_original"] is False


def test_shared_board_uses_names_and_shows_flags_only_for_everyone(app: App) -> None:
    seeded(app)
    set_config(app, flags="everyone")
    click(app, "U0BEN", "leaderboard_share", "today", "share")
    [post] = wait_for(lambda: app.stub.calls("chat.postMessage"))
    blocks = json.dumps(post.args["blocks"], ensure_ascii=False)
    assert "Fox Mori" in blocks and "⚑" in blocks and "Shared by <@U0BEN>" in blocks
    assert "*You:*" not in blocks  # nobody's own line in a channel


def test_sharing_off_hides_the_button_and_refuses_a_click(app: App) -> None:
    seeded(app)
    set_config(app, sharing_enabled=False)
    reply = first_reply(app, "today", "U0ANA", "cmd")
    assert "leaderboard_share" not in buttons(reply)
    assert "leaderboard_period_week" in buttons(reply)
    click(app, "U0ANA", "leaderboard_share", "today", "forged")
    answer = wait_for(lambda: app.stub.responses("forged"))[0]
    assert answer["text"] == SHARING_OFF and answer["response_type"] == "ephemeral"
    assert app.stub.calls("chat.postMessage") == []


def test_share_where_the_bot_is_not_a_member_says_how_to_fix_it(app: App) -> None:
    seeded(app)
    app.stub.fail_next("chat.postMessage", "not_in_channel")
    click(app, "U0ANA", "leaderboard_share", "week", "share")
    answer = wait_for(lambda: app.stub.responses("share"))[0]
    assert "not_in_channel" in answer["text"] and "/invite @tokenboard" in answer["text"]


def test_sharing_checkbox_in_the_configuration_modal(app: App) -> None:
    admin_app = app
    app.stub.add_user("U0WSADM", display_name="Wanda", is_admin=True)
    view = config_view(admin_app.deps.store.configs.load())
    [block] = [b for b in view["blocks"] if b.get("block_id") == "sharing"]
    assert block["element"]["type"] == "checkboxes"
    assert [o["value"] for o in block["element"]["initial_options"]] == ["on"]
    submit(admin_app, view, "U0WSADM", {"sharing": []})
    config = admin_app.deps.store.configs.load()
    assert config.sharing_enabled is False
    assert admin_app.deps.store.configs.history()[0]["changes"] == [
        "sharing enabled True → False"]
    unticked = config_view(config)
    [block] = [b for b in unticked["blocks"] if b.get("block_id") == "sharing"]
    assert not block["element"].get("initial_options")
    submit(admin_app, unticked, "U0WSADM", {"sharing": ["on"]})
    assert admin_app.deps.store.configs.load().sharing_enabled is True


# -- the chart in the reply ------------------------------------------------------------------------


def test_reply_shows_the_uploaded_chart(app: App) -> None:
    seeded(app)
    reply = first_reply(app, "today", "U0ANA", "cmd")
    [image] = [b for b in reply["blocks"] if b["type"] == "image"]
    [(file_id, png)] = app.stub.uploads().items()
    assert image["slack_file"] == {"id": file_id}
    assert png.startswith(b"\x89PNG")
    assert image["alt_text"].startswith("Slope chart of 6 people")
    [upload_call] = app.stub.calls("files.completeUploadExternal")
    assert not upload_call.args.get("channel_id")  # not posted anywhere by itself


def test_an_unchanged_chart_is_not_drawn_or_uploaded_again(app: App) -> None:
    seeded(app)
    first = first_reply(app, "today", "U0ANA", "c1")
    second = first_reply(app, "today", "U0ANA", "c2")
    images = [[b for b in r["blocks"] if b["type"] == "image"] for r in (first, second)]
    assert images[0] and images[0] == images[1]  # the same uploaded file
    assert len(app.stub.calls("files.completeUploadExternal")) == 1
    # a new report that changes the ranks draws and uploads a new chart
    app.ingest([{"id": "late-1", "type": "outcome", "user": "U0LATE", "ts": TS,
                 "kind": "pr_merged", "count": 10}])
    third = first_reply(app, "today", "U0ANA", "c3")
    assert len(app.stub.calls("files.completeUploadExternal")) == 2
    assert [b for b in third["blocks"] if b["type"] == "image"] != images[0]


def test_board_is_sent_without_the_chart_when_the_upload_is_refused(app: App) -> None:
    seeded(app)
    app.stub.fail_next("files.getUploadURLExternal", "missing_scope")
    reply = first_reply(app, "today", "U0ANA", "cmd")
    assert not [b for b in reply["blocks"] if b["type"] == "image"]
    assert "Fox Mori" in board_lines(reply)[0][0]


def test_board_is_sent_again_without_the_chart_when_slack_refuses_it(app: App) -> None:
    seeded(app)
    app.stub.fail_next("response_url", "invalid_blocks", status=404)
    app.command("today", user_id="U0ANA", name="cmd")
    [reply] = wait_for(lambda: app.stub.responses("cmd"))
    assert not [b for b in reply["blocks"] if b["type"] == "image"]
    assert "Fox Mori" in board_lines(reply)[0][0]


def test_anonymous_chart_names_nobody_but_the_viewer(app: App) -> None:
    seeded(app)
    set_config(app, display="anonymous")
    reply = first_reply(app, "today", "U0ANA", "cmd")
    [image] = [b for b in reply["blocks"] if b["type"] == "image"]
    for name in NAMES.values():
        assert name not in image["alt_text"]


# -- words first, periods as people say them ---------------------------------------------------


# -- the chart ------------------------------------------------------------------------------------


