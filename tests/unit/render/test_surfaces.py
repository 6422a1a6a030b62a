"""Every rendered surface (the board's Block Kit, the digest, App Home, help, the terminal)
shows hostile names without a live mention or a control character (hypothesis; pure)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from bot.render.blocks import help_blocks, home_view, leaderboard_blocks
from bot.render.digest_blocks import DigestData, digest_blocks
from bot.render.text import side_by_side
from tests.support.digests import DAY
from tests.support.hostile_names import board, hostile_text, mrkdwn_texts, rendered_problems


@hsettings(max_examples=60, deadline=None, derandomize=True)
@given(names=st.lists(hostile_text, min_size=1, max_size=26), command=hostile_text)
def test_no_rendered_surface_has_a_live_mention_or_control_character(
        names: list[str], command: str) -> None:
    pb, by_id = board(names)
    viewer = next(iter(by_id))
    surfaces = [
        leaderboard_blocks(pb, viewer, by_id, show_flags=True),
        digest_blocks(DigestData(day=DAY, day_board=pb, previous_rho=0.5, week_rho=None,
                                 changes=[f"{names[0]}: weight 5 → 8"]), by_id)[0],
        home_view(viewer, [pb], admin_notes=[], is_admin=True),
        help_blocks(not_understood=command),
    ]
    for blocks in surfaces:
        for text, verbatim in mrkdwn_texts(blocks):
            assert verbatim, text
            assert rendered_problems(text, mrkdwn=True) == [], text
    terminal = side_by_side(pb, by_id)
    assert rendered_problems(terminal.replace("\n", " "), mrkdwn=False) == [], terminal
