"""bot.render.blocks: Block Kit for the boards, App Home and help, and the mrkdwn
helpers every surface uses (pure; expectations written out by hand)."""

from __future__ import annotations

import json
import re

import pytest

from bot.boards.leaderboard import PeriodBoard
from bot.core.config import BoardConfig
from bot.core.periods import Bucket
from bot.core.plaintext import plain_text
from bot.core.ranking import PersonTotals, rank_board
from bot.render.blocks import (
    Chart,
    ago,
    board_columns,
    code_span,
    escape,
    escape_short,
    fmt_move,
    fmt_number,
    fmt_raw,
    help_blocks,
    home_view,
    leaderboard_blocks,
    me_blocks,
    own_line,
    person_label,
    shared_board_blocks,
)
from tests.rendered import live_mentions, shown
from tests.support.hostile_names import FORMAT, HOSTILE, bad_chars, board_of, mrkdwn_objects


def test_mrkdwn_escape_shows_the_name_and_formats_nothing() -> None:
    for name in HOSTILE.values():
        for escaped in (escape(name), escape_short(name, budget=10_000)):
            assert shown(escaped) == plain_text(name)
            outside = re.sub(r"<!date\^0\^\{_\}\|[*_~`@]>", "", escaped)
            assert not FORMAT.search(outside), escaped
            assert "<" not in outside and ">" not in outside
            assert live_mentions(escaped) == [] and bad_chars(escaped) == []


def test_leaderboard_blocks_render_names_as_plain_text() -> None:
    pb, names = board_of(HOSTILE)
    blocks = leaderboard_blocks(pb, "U0VIEWER", names)
    objects = mrkdwn_objects(blocks)
    assert objects and all(o.get("verbatim") is True for o in objects)
    text = "\n".join(o["text"] for o in objects)
    assert live_mentions(text) == [] and bad_chars(text) == []
    seen = shown(text)
    for name in HOSTILE.values():
        assert plain_text(name) in seen
    # Outside our own markup (rank code spans, the bold column titles) no formatting
    # character remains: a name's `*` or `_` cannot pair with anything.
    rows = [line for o in objects for line in o["text"].splitlines()[1:]]
    for line in rows:
        label = re.sub(r"^`\s*\d+\.` ", "", line)
        assert not FORMAT.search(re.sub(r"<!date\^0\^\{_\}\|[*_~`@]>", "", label)), line


# -- the small helpers, by hand -------------------------------------------------------------


@pytest.mark.parametrize(("value", "text"), [
    (0, "0"), (7, "7"), (12.345, "12.3"), (999, "999"), (1000, "1.0k"), (1234, "1.2k"),
    (9999, "10.0k"), (10_000, "10k"), (34_000, "34k"), (999_499, "999k"),
    (1_234_567, "1.2M"), (2_500_000_000, "2.5B"), (-1500, "-1.5k"),
])
def test_numbers_are_short(value: float, text: str) -> None:
    assert fmt_number(value) == text


def test_the_raw_metric_says_its_unit() -> None:
    assert fmt_raw(1_234_567, "tokens") == "1.2M tokens"
    assert fmt_raw(1234.5, "cost") == "$1,234.50"
    assert fmt_raw(42, "requests") == "42 req"


@pytest.mark.parametrize(("move", "text"), [(3, "↑3"), (-2, "↓2"), (0, "=")])
def test_moves(move: int, text: str) -> None:
    assert fmt_move(move) == text


@pytest.mark.parametrize(("seconds", "text"), [
    (-5, "just now"), (0, "just now"), (119, "just now"), (120, "2 min ago"),
    (119 * 60, "119 min ago"), (120 * 60, "2 h ago"), (47 * 3600, "47 h ago"),
    (48 * 3600, "2 days ago"), (10 * 86400, "10 days ago"),
])
def test_how_long_ago(seconds: float, text: str) -> None:
    assert ago(seconds) == text


def test_escape_keeps_text_literal() -> None:
    assert escape("Ana & <Bo>") == "Ana &amp; &lt;Bo&gt;"
    assert escape("*bold*") == "<!date^0^{_}|*>bold<!date^0^{_}|*>"
    assert escape("a\u202eb\x1bc") == "abc"  # bidi and control characters go


def test_code_span_shows_everything_but_backticks_literally() -> None:
    assert code_span("github:ana") == "`github:ana`"
    assert code_span("a`b<c>&d*") == "`a'b&lt;c&gt;&amp;d*`"


def test_escape_short_cuts_long_names_with_an_ellipsis() -> None:
    assert escape_short("Ana") == "Ana"
    assert escape_short("x" * 28) == "x" * 28
    assert escape_short("x" * 29) == "x" * 27 + "…"
    assert escape_short("&" * 20, budget=12) == "&amp;&amp;…"  # never half an entity


def test_a_person_is_shown_as_the_privacy_setting_says() -> None:
    names = {"U0ANA": "Ana *A*"}
    assert person_label("U0ANA", names) == "Ana <!date^0^{_}|*>A<!date^0^{_}|*>"
    assert person_label("U0ANA", names, "mentions") == "<@U0ANA>"
    assert person_label("U0ANA", names, "anonymous") == "someone"
    assert person_label("U0ANA", names, "anonymous", viewer="U0ANA") == (
        "*you* (Ana <!date^0^{_}|*>A<!date^0^{_}|*>)")
    assert person_label("U0BEN", {}, "names") == "U0BEN"  # no name known: the id


# -- the boards --------------------------------------------------------------------------------

WEEK = Bucket("w", "2026-W48")
# usage: Ana 9000 > Ben 5000 > Cy 300 > Dee 200; outcomes: Cy 9 > Ben 4 > Ana 0 = Dee 0
ORG = [PersonTotals("U0ANA", 9000, 0, 9000), PersonTotals("U0BEN", 5000, 4, 5000),
       PersonTotals("U0CY", 300, 9, 300), PersonTotals("U0DEE", 200, 0, 200)]
NAMES = {"U0ANA": "Ana", "U0BEN": "Ben", "U0CY": "Cy", "U0DEE": "Dee"}


def period(people: list[PersonTotals], **config: object) -> PeriodBoard:
    conf = BoardConfig(**config)  # type: ignore[arg-type]
    board = rank_board(people, top_n=conf.board_size, efficiency_min_tokens=1000)
    return PeriodBoard(period="week", bucket=WEEK, title="This week (2026-W48)",
                       label="this week", config=conf, board=board, name="week of 23 Nov")


def test_the_two_columns_list_rank_name_value_and_move() -> None:
    left, right = board_columns(period(ORG), NAMES, show_flags=True)
    assert left.splitlines() == [
        "*By usage (tokens)*",
        "` 1.` Ana · 9.0k tokens · ↓2 ⚑",   # outcome rank 3 (tied at 0 with Dee)
        "` 2.` Ben · 5.0k tokens · =",
        "` 3.` Cy · 300 tokens · ↑2",
        "` 4.` Dee · 200 tokens · ↑1"]
    assert right.splitlines() == [
        "*By outcomes (points)*",
        "` 1.` Cy · 9 pts · ↑2",
        "` 2.` Ben · 4 pts · =",
        "` 3.` Ana · 0 pts · ↓2 ⚑",
        "` 3.` Dee · 0 pts · ↑1"]
    no_flags, _ = board_columns(period(ORG), NAMES, show_flags=False)
    assert "⚑" not in no_flags


def test_the_viewers_own_line() -> None:
    pb = period(ORG)
    assert own_line(pb, "U0BEN") == (
        "*You:* #2 of 4 by usage (5.0k tokens), #2 by outcomes (4 pts), =; "
        f"{(4 + 1000 * 13 / 14500) / 6000 * 1e6:.1f} pts per 1M tokens.")
    assert own_line(pb, "U0DEE") == (
        "*You:* #4 of 4 by usage (200 tokens), #3 by outcomes (0 pts), ↑1; efficiency not "
        "ranked below the minimum volume.")
    assert own_line(pb, "U0NOBODY") == "You have no reported usage or outcomes this week."


def test_the_reply_has_the_boards_the_agreement_a_legend_and_the_period_buttons() -> None:
    blocks = leaderboard_blocks(period(ORG), "U0ANA", NAMES, show_flags=True, sharing=True)
    assert [b["type"] for b in blocks] == ["header", "section", "section", "context",
                                           "actions"]
    assert blocks[0]["text"]["text"] == "Leaderboard · This week (2026-W48)"
    assert blocks[2]["text"]["text"].startswith("Too few people to compare")  # 4 < 5
    assert blocks[3]["elements"][0]["text"] == (
        "↑/↓: places gained or lost when ranked by outcomes instead of usage. ⚑ high "
        "usage, no outcomes (for review, not blame).")
    actions = blocks[4]["elements"]
    assert [a["action_id"] for a in actions] == [
        "leaderboard_period_today", "leaderboard_period_week", "leaderboard_period_month",
        "leaderboard_period_all", "leaderboard_share"]
    assert [a.get("style") for a in actions[:4]] == [None, "primary", None, None]


def test_a_viewer_outside_the_top_gets_their_own_line_and_a_chart_its_image() -> None:
    people = [PersonTotals(f"U0P{i:02d}", 1000 * (20 - i), 20 - i, 1000) for i in range(12)]
    chart = Chart(file_id="F123", alt="Slope chart", drawn_at=3600.0)
    blocks = leaderboard_blocks(period(people, board_size=5), "U0P10", {}, chart=chart)
    [image] = [b for b in blocks if b["type"] == "image"]
    assert image["slack_file"] == {"id": "F123"} and image["alt_text"] == "Slope chart"
    assert image["title"]["text"] == "Usage rank → outcome rank, week of 23 Nov (drawn 01:00 UTC)"
    assert any(b["type"] == "section" and b.get("text", {}).get("text", "").startswith(
        "*You:* #11 of 12") for b in blocks)
    assert blocks[-1]["type"] == "actions" and len(blocks[-1]["elements"]) == 4  # no share


def test_an_empty_period_says_so() -> None:
    blocks = leaderboard_blocks(period([]), "U0ANA", {})
    assert blocks[1]["text"]["text"] == "No usage or outcomes have been reported this week yet."
    assert [b["type"] for b in blocks] == ["header", "section", "actions"]


def test_a_shared_board_names_the_sharer_unless_anonymous() -> None:
    blocks, text = shared_board_blocks(period(ORG), NAMES, show_flags=False, sharer="U0CY")
    assert blocks[-1]["elements"][0]["text"].endswith("Shared by <@U0CY> with `/leaderboard`.")
    assert text.startswith("Leaderboard · This week (2026-W48): Too few people")
    anonymous, _ = shared_board_blocks(period(ORG, display="anonymous"), NAMES, False, "U0CY")
    assert anonymous[-1]["elements"][0]["text"].endswith("Shared with `/leaderboard`.")
    assert "Ana" not in json.dumps(anonymous)


def test_me_and_help() -> None:
    me = me_blocks(period(ORG), "U0ANA", why=[{"type": "divider"}])
    assert [b["type"] for b in me] == ["header", "section", "context", "divider"]  # flagged
    assert "top 10% with no outcomes" in me[2]["elements"][0]["text"]
    assert [b["type"] for b in me_blocks(period(ORG), "U0BEN")] == ["header", "section"]
    [sorry, text] = help_blocks(not_understood="*weekly*")
    assert sorry["text"]["text"] == (
        "Sorry, I did not understand `<!date^0^{_}|*>weekly<!date^0^{_}|*>`. Periods are "
        "today, yesterday, week, month, all.")
    assert text["text"]["text"].startswith("*/leaderboard* shows two rankings")


def test_app_home_shows_admins_their_notes_and_the_configure_button() -> None:
    view = home_view("U0BEN", [period(ORG)], admin_notes=["note"], is_admin=True)
    types = [b["type"] for b in view["blocks"]]
    assert view["type"] == "home" and types[0] == "header" and types[-1] == "actions"
    assert view["blocks"][1]["text"]["text"].startswith("*This week (2026-W48)*\n*You:* #2")
    assert {"type": "section", "text": {"type": "mrkdwn", "text": "note",
                                        "verbatim": True}} in view["blocks"]
    plain = home_view("U0BEN", [period(ORG)], admin_notes=["note"], is_admin=False)
    assert "note" not in json.dumps(plain) and "open_config" not in json.dumps(plain)
