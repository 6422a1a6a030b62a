"""bot.render.rank_chart: one person's daily ranks drawn as a sparkline (pure)."""

from __future__ import annotations

from bot.render.rank_chart import sparkline


def test_sparkline() -> None:
    # best 1 → tallest, worst 3 → lowest, 2 → halfway (round(3.5) = 4 → ▅); no data · .
    assert sparkline([1, None, 3, 2]) == "█·▁▅"
    assert sparkline([4, 4]) == "██"
    assert sparkline([None, None]) == ""
