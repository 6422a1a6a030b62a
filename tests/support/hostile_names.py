"""Names built to break rendering (mentions, mrkdwn, bidi and control characters), a board
of them, and what a rendered text must not contain."""

from __future__ import annotations

import re
import unicodedata

from bot.boards.leaderboard import PeriodBoard
from bot.core.config import BoardConfig
from bot.core.periods import day_bucket
from bot.core.ranking import PersonTotals, rank_board
from tests.test_digest import DAY

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
