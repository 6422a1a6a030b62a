"""bot.render.chart: the slope chart's lines, layout, alt text and picture (pure).

What each line should look like is worked out from the ranks and points alone
(tests/support/chart_checks.py), never read from the chart module.
"""

from __future__ import annotations

import io

import pytest
from PIL import Image

from bot.core.ranking import PersonTotals, rank_board
from bot.render.chart import (
    DOWN,
    DPI,
    UP,
    WIDTH_IN,
    layout,
    line_style,
    slope_chart,
    slope_chart_alt,
)
from tests.support.chart_checks import board_rows, check_slope_chart, expected_kind


@pytest.mark.parametrize("points", [
    [2, 5, 10, 0, 0, 0, 0, 0, 0],  # 3 scored, 6 with nothing at usage #4..#9
    [0, 5, 9, 1],                  # one person with nothing: no group, still its own kind
    [0, 0, 0],                     # nobody has outcomes
    [9, 5, 1],                     # nobody moves
    [4, 0, 5, 0, 9, 1, 3, 2],
])
def test_line_styles_follow_ranks(points: list[float]) -> None:
    rows = board_rows(points)
    check_slope_chart(rows, {}, {r.user: expected_kind(r) for r in rows})


def test_people_without_outcomes_never_climb_or_stay() -> None:
    # Three scored people and six with nothing: the six share outcome rank #4, so usage
    # #4 has "move 0" and #5..#9 have "moves up"; neither is true.
    rows = board_rows([2, 5, 10, 0, 0, 0, 0, 0, 0])
    assert [(r.raw_rank, r.outcome_rank) for r in rows[3:]] == [(k, 4) for k in range(4, 10)]
    kinds = {r.user: line_style(r).label for r in rows}
    assert kinds == {"U00": "falls when ranked by outcomes",
                     "U01": "same place on both",
                     "U02": "climbs when ranked by outcomes",
                     **{f"U{i:02d}": "no outcomes (ranked last)" for i in range(3, 9)}}
    left, right, group, slots = layout(rows)
    assert group == 6 and {right[f"U{i:02d}"] for i in range(3, 9)} == {9} and slots == 10
    alt = slope_chart_alt(rows, {})
    assert "Biggest climb: U02, #3 to #1." in alt and "Biggest drop: U00, #1 to #3." in alt
    assert "No outcomes, ranked last: U03 (#4 by usage)" in alt


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
