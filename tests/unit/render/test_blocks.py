"""bot.render.blocks: Block Kit for the boards, App Home and help, and the mrkdwn
helpers every surface uses (pure; expectations written out by hand)."""

from __future__ import annotations

import re

from bot.core.plaintext import plain_text
from bot.render.blocks import escape, escape_short, leaderboard_blocks
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
