"""What each line of a slope chart must look like, worked out from the ranks and points
alone (never read from bot/render/chart.py), and the check of a chart against it: shared
by tests/unit/render/test_chart.py and the charts drawn end to end (test_chart_styles.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from matplotlib.colors import to_hex

from bot.core.ranking import PersonTotals, Row, rank_board
from bot.render.chart import figure, line_specs, line_style, slope_chart_alt

# What each kind of line must look like, written out here, not imported.
EXPECTED = {
    "climb": ("#0072b2", "-", "climbs when ranked by outcomes"),
    "fall": ("#d55e00", "--", "falls when ranked by outcomes"),
    "same": ("#000000", ":", "same place on both"),
    "no outcomes": ("#999999", "-.", "no outcomes (ranked last)"),
}


LEGEND_ORDER = ["climb", "fall", "same", "no outcomes"]


def expected_kind(row: Row) -> str:
    """From the ranks and points alone: no points is its own kind; otherwise a smaller
    outcome rank number than the usage one is a climb, a larger one a fall."""
    if row.points <= 0:
        return "no outcomes"
    if row.outcome_rank < row.raw_rank:
        return "climb"
    if row.outcome_rank > row.raw_rank:
        return "fall"
    return "same"


def check_slope_chart(rows: Sequence[Row], names: Mapping[str, str],
                      kinds: Mapping[str, str]) -> None:
    """The specs and the real Figure of `rows` agree with `expected_kind` and `kinds` (the
    hand-worked answer for this org), and no-outcome lines go down below everyone else."""
    assert {r.user: expected_kind(r) for r in rows} == kinds
    specs = {s.user: s for s in line_specs(rows)}
    assert set(specs) == {r.user for r in rows}
    scored_slots = [specs[r.user].y1 for r in rows if r.points > 0]
    for row in rows:
        spec = specs[row.user]
        colour, linestyle, label = EXPECTED[kinds[row.user]]
        assert (to_hex(spec.colour), spec.linestyle, spec.label) == (colour, linestyle,
                                                                      label), row
        style = line_style(row)
        assert (to_hex(style.colour), style.linestyle) == (colour, linestyle)
        if row.points <= 0:  # below every scored person on the right, and going down
            assert spec.y1 > spec.y0, row
            assert all(spec.y1 > y for y in scored_slots), row

    fig = figure(rows, names, "test chart")
    [ax] = fig.axes
    drawn = {line.get_gid(): line for line in ax.get_lines()}
    assert set(drawn) == {r.user for r in rows}
    for row in rows:
        line = drawn[row.user]
        colour, linestyle, _ = EXPECTED[kinds[row.user]]
        assert to_hex(line.get_color()) == colour, row
        assert line.get_linestyle() == linestyle, row
        assert list(line.get_ydata()) == [specs[row.user].y0, specs[row.user].y1]
    [legend] = fig.legends
    present = [k for k in LEGEND_ORDER if k in set(kinds.values())]
    assert [t.get_text() for t in legend.get_texts()] == [EXPECTED[k][2] for k in present]
    for handle, kind in zip(legend.legend_handles, present, strict=True):
        assert to_hex(handle.get_color()) == EXPECTED[kind][0]
        assert handle.get_linestyle() == EXPECTED[kind][1]

    alt = slope_chart_alt(rows, names)
    climbers = [r for r in rows if kinds[r.user] == "climb"]
    if "Biggest climb: " in alt:
        climber = alt.split("Biggest climb: ", 1)[1].split(",", 1)[0]
        assert climber in {names.get(r.user, r.user) for r in climbers}
    else:
        assert not climbers


def board_rows(points: list[float]) -> list[Row]:
    """Usage ranks 1..n in list order, with these outcome points."""
    people = [PersonTotals(f"U{i:02d}", 1000.0 * (len(points) - i), p, 1000.0)
              for i, p in enumerate(points)]
    return list(rank_board(people, top_n=len(points)).raw)
