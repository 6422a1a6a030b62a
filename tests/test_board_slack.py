"""The board in Slack: period buttons, Share in channel, the chart in the reply, the
agreement in words, periods named as people say them, and the chart itself."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from PIL import Image

from bot.core.periods import period_name, period_phrase, period_title
from bot.core.ranking import Agreement, PersonTotals, agreement_summary, rank_board
from bot.intake.scoring import save_configuration
from bot.render.chart import DOWN, DPI, UP, WIDTH_IN, layout, slope_chart
from bot.render.config_modal import config_view
from handlers.commands import SHARING_OFF
from tests.conftest import App
from tests.test_admin import block_actions, submit
from tests.test_slack import TS, board_lines, response_text, seed, wait_for

NAMES = {"U0ANA": "Ana Lima", "U0BEN": "Ben Okafor", "U0CY": "Cy Park", "U0DEE": "Dee Ruiz",
         "U0EVA": "Eva Stone", "U0FOX": "Fox Mori"}
# tokens, merged PRs: Fox and Eva burn tokens with nothing merged
PEOPLE = {"U0ANA": (4000, 4), "U0BEN": (3000, 1), "U0CY": (2000, 9), "U0DEE": (1000, 0),
          "U0EVA": (8000, 0), "U0FOX": (9000, 0)}


def seeded(app: App) -> None:
    for uid, name in NAMES.items():
        app.stub.add_user(uid, display_name=name)
    seed(app, PEOPLE)


def first_reply(app: App, text: str, user: str, name: str) -> dict:
    assert app.command(text, user_id=user, name=name).status == 200
    return wait_for(lambda: app.stub.responses(name))[0]


def buttons(reply: dict) -> dict[str, dict]:
    [actions] = [b for b in reply["blocks"] if b["type"] == "actions"]
    return {e["action_id"]: e for e in actions["elements"]}


def click(app: App, user: str, action_id: str, value: str, name: str) -> None:
    body = block_actions(user, action_id, value, "leaderboard_actions",
                         response_url=app.stub.response_url(name))
    assert app.slack(body).status == 200


def set_config(app: App, **update: object) -> None:
    config = app.deps.store.configs.load()
    save_configuration(app.deps.store, config.model_copy(update=update), by="U0ADMIN")


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


def test_agreement_in_words_then_statistics() -> None:
    a = Agreement(people=54, spearman=-0.31, kendall=-0.22, top_n=10,
                  missing_from_outcome_top=7)
    assert agreement_summary(a, "in the week of 23 Nov") == (
        "Usage and outcomes mostly disagree in the week of 23 Nov: 7 of the 10 heaviest "
        "users are not in the outcome top 10.",
        "Spearman ρ = -0.31, Kendall τ = -0.22 over 54 people "
        "(1 = same order, 0 = unrelated, −1 = reversed).")
    mostly = Agreement(people=30, spearman=0.7, kendall=0.5, top_n=10,
                       missing_from_outcome_top=2)
    assert agreement_summary(mostly, "today")[0] == (
        "Usage and outcomes mostly agree today: 8 of the 10 heaviest users are also in the "
        "outcome top 10.")
    none = Agreement(people=30, spearman=-0.9, kendall=-0.8, top_n=10,
                     missing_from_outcome_top=10)
    assert agreement_summary(none, "today")[0] == (
        "Usage and outcomes disagree today: none of the 10 heaviest users is in the outcome "
        "top 10.")
    few = Agreement(people=3, spearman=-1.0, kendall=-1.0, top_n=3, missing_from_outcome_top=0)
    assert agreement_summary(few, "today") == (
        "Too few people to compare the two boards yet (3 active).", None)


def test_agreement_of_a_constructed_board() -> None:
    # 12 people; usage order U00..U11; points reward the light users: the usage top 5
    # (U00-U04) have 0-4 points, U05-U11 have 10+ — so all of the top 5 miss the outcome top 5.
    people = [PersonTotals(f"U{i:02d}", 1000.0 * (12 - i), (i if i < 5 else 10.0 + i),
                           1000.0 * (12 - i)) for i in range(12)]
    board = rank_board(people, top_n=5)
    words, _ = agreement_summary(board.agreement, "today")
    assert words == ("Usage and outcomes disagree today: none of the 5 heaviest users is in "
                     "the outcome top 5.")


def test_periods_are_named_as_people_say_them() -> None:
    tz, now = ZoneInfo("UTC"), datetime(2026, 11, 25, 12, tzinfo=UTC)  # a Wednesday
    assert [period_name(p, tz, now) for p in ("today", "yesterday", "week", "month", "all")] \
        == ["today", "yesterday", "week of 23 Nov", "November 2026", "all time"]
    assert period_phrase("week", "week of 23 Nov") == "in the week of 23 Nov"
    assert period_phrase("all", "all time") == "over all time"
    assert period_title("week", tz, now) == "This week (week of 23 Nov, to Wed 25 Nov)"
    assert "W48" not in period_title("week", tz, now)


# -- the chart ------------------------------------------------------------------------------------


def _rows(points: list[float]) -> list:
    people = [PersonTotals(f"U{i:02d}", 1000.0 * (len(points) - i), p, 1000.0)
              for i, p in enumerate(points)]
    board = rank_board(people, top_n=len(points))
    return list(board.raw)


def test_people_tied_at_zero_outcomes_form_one_group() -> None:
    rows = _rows([0, 0, 5, 0, 9, 1])  # U00, U01, U03 have no outcomes
    left, right, group, slots = layout(rows)
    assert group == 3
    # one slot below the 3 scored and below U03's usage slot (3), so every line goes down
    assert {right[u] for u in ("U00", "U01", "U03")} == {4}
    assert [u for u, _ in sorted(right.items(), key=lambda kv: kv[1])][:3] == [
        "U04", "U02", "U05"]
    assert slots == 6 and sorted(left.values()) == list(range(6))
    single = layout(_rows([0, 5, 9]))
    assert single[2] == 0  # one person with nothing is just a row


def test_chart_is_sharp_colour_blind_safe_and_has_a_legend() -> None:
    rows = _rows([4, 0, 5, 0, 9, 1, 3, 2])  # U00 falls (#1 → #3), most climb
    png = slope_chart(rows, {r.user: r.user for r in rows}, "Usage rank → outcome rank")
    image = Image.open(io.BytesIO(png)).convert("RGB")
    assert image.size[0] == int(WIDTH_IN * DPI) == 1400  # 2× resolution for phones
    colours = {c for _, c in image.getcolors(maxcolors=1 << 20)}

    def rgb(hex_colour: str) -> tuple[int, int, int]:
        return tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]

    assert rgb(UP) in colours and rgb(DOWN) in colours  # Okabe–Ito blue and vermillion
    for old in ("#1a7f37", "#cf222e"):  # the former green/red pair
        assert rgb(old) not in colours
    # the legend sits below the plot: under the bottom spine (the last row that is mostly
    # black), where no line of the chart reaches, both colours appear again
    width, height = image.size
    pixels = image.load()
    spine = max(y for y in range(height)
                if sum(pixels[x, y] == (0, 0, 0) for x in range(0, width, 7)) > width // 14)
    below = image.crop((0, spine + 2, width, height))
    low = {c for _, c in below.getcolors(maxcolors=1 << 20)}
    assert rgb(UP) in low and rgb(DOWN) in low
