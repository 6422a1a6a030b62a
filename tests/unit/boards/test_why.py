"""bot.boards.why: the "why" of a person's outcome points rendered as Block Kit data."""

from __future__ import annotations

from bot.boards.why import explain, why_blocks
from bot.core.config import BoardConfig


def test_why_blocks_are_data() -> None:
    why = explain({"o:pr_merged": 3.0, "o:pr_merged~revert": 1.0,
                   "o:deploy~env_preview_1": 2.0}, BoardConfig())
    blocks = why_blocks(why)
    text = blocks[0]["text"]["text"]
    assert "• 2 deploys, 0 counted" in text
    assert "◦ 2 deploys to preview_1, not a production environment: not counted" in text
    assert "• 1 merged pull requests reverted" in text
    assert blocks[1]["elements"][0]["text"].startswith(
        "Revert rate: 1 of 3 merged pull requests reverted (33%)")
    assert why_blocks(explain({}, BoardConfig())) == []
