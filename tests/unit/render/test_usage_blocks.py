"""bot.render.usage_blocks: where usage went, as Block Kit data and the digest's line."""

from __future__ import annotations

import re

from bot.boards.usage import summarise
from bot.render.usage_blocks import build_usage_blocks, usage_by_tool


def test_a_persons_tools_and_models_as_blocks() -> None:
    summary = summarise({"t:cc": 1000, "c:cc": 5000, "t:cu": 500, "c:cu": 2500,
                         "m:opus": 700, "m:gpt-5": 500, "m:sonnet": 200, "m:haiku": 60,
                         "m:other": 40})
    blocks = build_usage_blocks(summary, "Where your tokens went this week")
    assert [b["type"] for b in blocks] == ["section", "context"]
    assert blocks[0]["text"]["text"].splitlines() == [
        "*Where your tokens went this week*",
        "• Claude Code: 1,000 tokens (67%) · $0.50",
        "• Cursor: 500 tokens (33%) · $0.25"]
    assert blocks[1]["elements"][0]["text"] == (
        "Models: `opus` 700 tokens (47%), `gpt-5` 500 tokens (33%), `sonnet` 200 tokens "
        "(13%), others 100 tokens (7%)")
    shown = re.findall(r"\((\d+)%\)", blocks[1]["elements"][0]["text"])
    assert sum(map(int, shown)) == 100


def test_nothing_known_shows_nothing_and_names_are_escaped() -> None:
    assert build_usage_blocks(summarise({"tokens": 5}), "x") == []
    assert usage_by_tool(summarise({})) is None
    blocks = build_usage_blocks(summarise({"t:<b>&x": 5}), "Where")
    assert "&lt;b&gt;&amp;x: 5 tokens (100%)" in blocks[0]["text"]["text"]
    assert len(blocks) == 1  # no models reported: no models line


def test_the_orgs_split_by_tool() -> None:
    line = usage_by_tool(summarise({"t:cc": 620, "t:cu": 250, "t:cp": 130, "c:cc": 9}))
    assert line == "*Usage by tool:* Claude Code 62%, Cursor 25%, Copilot 13%"
