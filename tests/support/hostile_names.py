"""Names built to break rendering (mentions, mrkdwn, bidi and control characters), a board
of them, and what a rendered text must not contain."""

from __future__ import annotations

import re
import unicodedata

from hypothesis import strategies as st

from bot.boards.leaderboard import PeriodBoard
from bot.core.config import BoardConfig
from bot.core.periods import day_bucket
from bot.core.ranking import PersonTotals, rank_board
from tests.rendered import live_mentions
from tests.support.digests import DAY

RLO, ESC = "\u202e", "\x1b"


HOSTILE = {
    "U0MATH": "$x^$",
    "U0BIDI": f"evil{RLO}gnp.exe",
    "U0ESC": f"{ESC}[2J{ESC}]0;pwned\x07Eve",
    "U0STAR": "*bold",
    "U0UNDER": "_it",
    "U0CLOSE": "it_ bold*",
    "U0TICK": "`code",
    "U0HERE": "@here Hank",
    "U0CMD": "<!here> & <@U0BOSS>",
    "U0NL": "two\nlines\u2028sep",
}


FORMAT = re.compile(r"[*_~`]")


BAD_CHARS = {"Cc", "Cf", "Cs", "Zl", "Zp"}


def bad_chars(text: str) -> list[str]:
    return [c for c in text if unicodedata.category(c) in BAD_CHARS and c not in "\n\u200c\u200d"]


def board_of(names: dict[str, str]) -> tuple[PeriodBoard, dict[str, str]]:
    people = [PersonTotals(user=u, raw=1000.0 * (i + 1), points=float(i % 3),
                           tokens=1000.0 * (i + 1)) for i, u in enumerate(names)]
    config = BoardConfig(board_size=25)
    board = rank_board(people, top_n=config.board_size)
    return PeriodBoard(period="day", bucket=day_bucket(DAY), title="Tue", label="on Tue",
                       config=config, board=board), names


def mrkdwn_objects(blocks: object) -> list[dict]:
    found = []
    if isinstance(blocks, dict):
        if blocks.get("type") == "mrkdwn":
            found.append(blocks)
        for value in blocks.values():
            found += mrkdwn_objects(value)
    elif isinstance(blocks, list):
        for value in blocks:
            found += mrkdwn_objects(value)
    return found


hostile_text = st.lists(
    st.sampled_from(list("ab *_~`>&<!@#|:\\$^{}\n\t") + [
        "\u202e", "\u202d", "\u2066", "\u2069", "\u200e", "\u200f", "\u061c", "\x1b",
        "\x00", "\x07", "\x7f", "\x9b", "\u2028", "\u2029", "\ufeff", "\u200b", "é",
        "😀", "\u200d", "@here", "@channel", "@everyone", "<!here>", "<!channel>",
        "<@U0BOSS>", "<!subteam^S1>", "<#C0GEN>", "<http://x|y>", "$x^$", "\\frac{"])
    | st.characters(), max_size=12).map("".join)


BAD_CATEGORIES = {"Cc", "Cf", "Cs", "Zl", "Zp"}


def rendered_problems(text: str, mrkdwn: bool) -> list[str]:
    problems = [f"U+{ord(c):04X}" for c in text
                if unicodedata.category(c) in BAD_CATEGORIES and c not in "\n\u200d\u200c"]
    if mrkdwn:
        problems += live_mentions(text)
    return problems


def mrkdwn_texts(blocks: object) -> list[tuple[str, bool]]:
    """(text, verbatim) of every mrkdwn object; plain_text objects as (text, True)."""
    found: list[tuple[str, bool]] = []
    if isinstance(blocks, dict):
        if blocks.get("type") in ("mrkdwn", "plain_text") and "text" in blocks:
            found.append((blocks["text"], blocks.get("verbatim", blocks["type"] == "plain_text")))
        for value in blocks.values():
            found += mrkdwn_texts(value)
    elif isinstance(blocks, list):
        for value in blocks:
            found += mrkdwn_texts(value)
    return found


def board(names: list[str]) -> tuple[PeriodBoard, dict[str, str]]:
    ids = [f"U0N{i:02d}" for i in range(len(names))]
    people = [PersonTotals(user=u, raw=1000.0 * (i + 1), points=float((i * 7) % 5),
                           tokens=200_000.0 * (i + 1)) for i, u in enumerate(ids)]
    config = BoardConfig(board_size=25)
    pb = PeriodBoard(period="day", bucket=day_bucket(DAY), title="Tue 24 Nov",
                     label="on Tue 24 Nov", config=config,
                     board=rank_board(people, top_n=config.board_size))
    return pb, dict(zip(ids, names, strict=True))
