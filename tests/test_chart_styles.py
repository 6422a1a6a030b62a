"""Every drawn line's colour and style follow the ranks it joins, on all three charts.

The digest's slope chart, the `/leaderboard` reply's slope chart and App Home's 30-day
rank chart are each fed through the real code path that produces their rows (the store,
`rank_board` / `daily_ranks`, the digest runner, the slash command, App Home), then drawn;
the lines are checked twice: as the plain line specs the chart plots, and as the Line2D
objects of a real matplotlib Figure. What each line should look like is worked out here
from the ranks and points alone, never read from the chart module.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from matplotlib.colors import to_hex

import bot.slack.board_chart
import bot.slack.first_run
import jobs.digest
from bot.boards.rank_history import DayRanks
from bot.core.ranking import Row
from bot.render.rank_chart import rank_figure, rank_lines
from jobs.digest import DigestRunner
from tests.conftest import App
from tests.support.chart_checks import check_slope_chart
from tests.support.day_reports import outcome, record, usage
from tests.support.digest_org import local, make_deps, seed
from tests.support.digest_posts import section_texts
from tests.support.digests import DAY
from tests.support.polling import wait_for
from tests.support.slack_app import seed as seed_app
from tests.support.slack_interactions import open_home

# -- the pure functions -----------------------------------------------------------------------


# -- the digest's chart ---------------------------------------------------------------------------

# usage #1..#3 score 2, 5 and 10 points; #4..#9 report tokens only.
ORG = {"U0A": (900_000, {"review": 1}), "U0B": (800_000, {"pr_merged": 1}),
       "U0C": (700_000, {"pr_merged": 4}),
       **{f"U0Z{i}": (600_000 - 100_000 * i, {}) for i in range(6)}}
KINDS = {"U0A": "fall", "U0B": "same", "U0C": "climb",
         **{f"U0Z{i}": "no outcomes" for i in range(6)}}


def test_the_digest_chart(settings, redis_client, stub, monkeypatch) -> None:
    deps = make_deps(settings, redis_client)
    for uid in ORG:
        stub.add_user(uid, display_name=f"Name {uid[2:]}")
    seed(deps, local(DAY, 12), ORG)
    drawn: list[tuple[list[Row], dict[str, str]]] = []
    real = jobs.digest.slope_chart

    def spy(rows, names, title):  # type: ignore[no-untyped-def]
        drawn.append((list(rows), dict(names)))
        return real(rows, names, title)

    monkeypatch.setattr("jobs.digest.slope_chart", spy)
    built = DigestRunner(deps).build(DAY)
    assert built.png and built.png.startswith(b"\x89PNG")
    [(rows, names)] = drawn
    # ranks by hand: usage A1 B2 C3 Z0..Z5 4..9; points C 10, B 5, A 2, the rest 0 (#4)
    assert {r.user: (r.raw_rank, r.outcome_rank) for r in rows} == {
        "U0A": (1, 3), "U0B": (2, 2), "U0C": (3, 1),
        **{f"U0Z{i}": (4 + i, 4) for i in range(6)}}
    check_slope_chart(rows, names, KINDS)
    assert "Biggest climb: Name C, #3 to #1." in built.alt
    # the digest's words agree: only C climbs
    [moves] = [t for t in section_texts({"blocks": built.blocks}) if "Climb" in t]
    climb_line = moves.splitlines()[0]
    assert "Name C" in climb_line and "Name Z" not in climb_line and "Name A" not in climb_line


# -- the /leaderboard reply's chart ---------------------------------------------------------------


@pytest.mark.slow
def test_the_board_chart(app: App, monkeypatch) -> None:
    # tokens, merged PRs (5·√n points): A 5, B 10, C 15, the six Z nothing
    people = {"U0A": (9000, 1), "U0B": (8000, 4), "U0C": (7000, 9),
              **{f"U0Z{i}": (6000 - 1000 * i, 0) for i in range(6)}}
    for uid in people:
        app.stub.add_user(uid, display_name=f"Name {uid[2:]}")
    seed_app(app, people)
    drawn: list[tuple[list[Row], dict[str, str]]] = []
    real = bot.slack.board_chart.slope_chart

    def spy(rows, names, title):  # type: ignore[no-untyped-def]
        drawn.append((list(rows), dict(names)))
        return real(rows, names, title)

    monkeypatch.setattr("bot.slack.board_chart.slope_chart", spy)
    assert app.command("today", user_id="U0A", name="chart").status == 200
    [reply] = wait_for(lambda: app.stub.responses("chart"))
    [image] = [b for b in reply["blocks"] if b["type"] == "image"]
    [(rows, names)] = drawn
    assert {r.user: (r.raw_rank, r.outcome_rank) for r in rows} == {
        "U0A": (1, 3), "U0B": (2, 2), "U0C": (3, 1),
        **{f"U0Z{i}": (4 + i, 4) for i in range(6)}}
    check_slope_chart(rows, names, KINDS)
    assert "Biggest climb: Name C, #3 to #1." in image["alt_text"]


# -- App Home's rank history ---------------------------------------------------------------------

USAGE_COLOUR, OUTCOME_COLOUR, NONE_COLOUR = "#e01e5a", "#2eb67d", "#999999"


@pytest.mark.slow
def test_the_app_home_chart(app: App, monkeypatch) -> None:
    """App Home draws one person's ranks over 30 days, not a slope chart: one line per
    board, coloured by the board (never by direction). A day without outcome points is
    not on the outcome line: it is a grey hollow marker at the shared last place."""
    today = datetime.now(UTC).date()
    d1, d2 = today - timedelta(days=2), today - timedelta(days=1)
    record(app.deps, [
        # d1: usage A 300, B 200, V 100 → V #3; only A scores → V and B share #2
        usage("a1", "U0A", d1, 300), usage("b1", "U0B", d1, 200),
        usage("v1", "U0VIEWER", d1, 100), outcome("a2", "U0A", d1, "review"),
        # d2: usage V 300, A 200 → V #1; points A 2, V 5 → V #1
        usage("v2", "U0VIEWER", d2, 300), usage("a3", "U0A", d2, 200),
        outcome("a4", "U0A", d2, "review"), outcome("v3", "U0VIEWER", d2, "pr_merged"),
    ])
    drawn: list[list[DayRanks]] = []
    real = bot.slack.first_run.rank_chart

    def spy(history, raw_metric="tokens"):  # type: ignore[no-untyped-def]
        drawn.append(list(history))
        return real(history, raw_metric)

    monkeypatch.setattr("bot.slack.first_run.rank_chart", spy)
    open_home(app, "U0VIEWER", "EvStyles")
    [history] = drawn
    by_day = {h.day: (h.raw, h.outcome, h.no_outcomes) for h in history}
    assert by_day[d1] == (3, 2, True) and by_day[d2] == (1, 1, False)

    def expected(series: str) -> list[float]:
        out = []
        for h in history:
            if series == "usage":
                value = h.raw
            elif series == "outcomes":
                value = h.outcome if not h.no_outcomes else None
            else:
                value = h.outcome if h.no_outcomes else None
            out.append(math.nan if value is None else float(value))
        return out

    def same(a: Sequence[float], b: Sequence[float]) -> bool:
        return all((math.isnan(x) and math.isnan(y)) or x == y
                   for x, y in zip(a, b, strict=True))

    looks = {"usage": (USAGE_COLOUR, "-"), "outcomes": (OUTCOME_COLOUR, "-"),
             "no outcomes": (NONE_COLOUR, "None")}
    specs = {s.key: s for s in rank_lines(history)}
    assert set(specs) == set(looks)
    for key, (colour, linestyle) in looks.items():
        assert to_hex(specs[key].colour) == colour and same(specs[key].ranks, expected(key))
        assert specs[key].linestyle.lower() == linestyle.lower()
    fig = rank_figure(history)
    [ax] = fig.axes
    lines = {line.get_gid(): line for line in ax.get_lines()}
    assert set(lines) == set(looks)
    for key, (colour, linestyle) in looks.items():
        line = lines[key]
        assert to_hex(line.get_color()) == colour and line.get_linestyle() == linestyle
        assert same([float(y) for y in line.get_ydata()], expected(key))
    assert "no outcomes (ranked last)" in [t.get_text() for t in ax.get_legend().get_texts()]

    # a history with outcomes every day has no "no outcomes" entry at all
    scored = [DayRanks(d1, 2, 1), DayRanks(d2, 1, 2)]
    assert [s.key for s in rank_lines(scored)] == ["usage", "outcomes"]

