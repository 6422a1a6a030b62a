"""Tests for bot.core.ranking.

Every expected number is worked out by hand in the comments, or computed with a
deliberately naive independent formula defined here (O(n^2) pair counting for
Kendall's tau-b, Pearson on average ranks for Spearman's rho, "1 + count strictly
greater" for competition ranks) -- never copied from the code under test.
"""

from __future__ import annotations

import math
import random

import pytest

from bot.core.ranking import (
    Agreement,
    PersonTotals,
    Row,
    agreement_sentence,
    rank_board,
)


def P(user: str, raw: float, points: float, tokens: float | None = None) -> PersonTotals:
    """Shorthand; tokens default to raw (the raw board's default metric is tokens)."""
    return PersonTotals(user=user, raw=raw, points=points, tokens=raw if tokens is None else tokens)


# --- independent reference implementations ----------------------------------------


def naive_competition_rank(values: list[float], v: float) -> int:
    return 1 + sum(1 for w in values if w > v)


def naive_average_ranks(values: list[float]) -> list[float]:
    """Average rank (1-based, ascending) of each value; ties share the mean position."""
    out = []
    for v in values:
        below = sum(1 for w in values if w < v)
        equal = sum(1 for w in values if w == v)
        out.append(below + (equal + 1) / 2)
    return out


def naive_spearman(x: list[float], y: list[float]) -> float:
    rx, ry = naive_average_ranks(x), naive_average_ranks(y)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    sxx = sum((a - mx) ** 2 for a in rx)
    syy = sum((b - my) ** 2 for b in ry)
    return sxy / math.sqrt(sxx * syy)


def naive_kendall_tau_b(x: list[float], y: list[float]) -> float:
    n = len(x)
    concordant = discordant = tied_x = tied_y = 0
    for i in range(n):
        for j in range(i + 1, n):
            dx, dy = x[i] - x[j], y[i] - y[j]
            if dx == 0:
                tied_x += 1
            if dy == 0:
                tied_y += 1
            if dx != 0 and dy != 0:
                if (dx > 0) == (dy > 0):
                    concordant += 1
                else:
                    discordant += 1
    n0 = n * (n - 1) // 2
    return (concordant - discordant) / math.sqrt((n0 - tied_x) * (n0 - tied_y))


# --- small board, all values distinct ------------------------------------------------

# raw:    a=500 b=400 c=300 d=200 e=100  -> raw ranks     a1 b2 c3 d4 e5
# points: a=10  b=50  c=20  d=40  e=30   -> outcome ranks b1 d2 e3 c4 a5
DISTINCT = [P("a", 500, 10), P("b", 400, 50), P("c", 300, 20), P("d", 200, 40), P("e", 100, 30)]


def test_distinct_ranks_and_moves():
    board = rank_board(DISTINCT, top_n=3)
    assert [r.user for r in board.raw] == ["a", "b", "c", "d", "e"]
    assert [r.user for r in board.outcome] == ["b", "d", "e", "c", "a"]
    ranks = {u: (r.raw_rank, r.outcome_rank, r.move) for u, r in board.by_user.items()}
    # move = raw_rank - outcome_rank
    assert ranks == {
        "a": (1, 5, -4),
        "b": (2, 1, 1),
        "c": (3, 4, -1),
        "d": (4, 2, 2),
        "e": (5, 3, 2),
    }


def test_distinct_correlations():
    a = rank_board(DISTINCT, top_n=3).agreement
    # Spearman without ties: d = rank differences = moves = -4, 1, -1, 2, 2
    # sum d^2 = 16+1+1+4+4 = 26; rho = 1 - 6*26 / (5*(25-1)) = 1 - 156/120 = -0.3
    assert a.spearman == pytest.approx(-0.3)
    # Kendall: 10 pairs in raw order a>b>c>d>e, concordant if points also decrease:
    # C: b-c b-d b-e d-e (4); D: a-b a-c a-d a-e c-d c-e (6) -> tau = (4-6)/10 = -0.2
    assert a.kendall == pytest.approx(-0.2)
    assert a.people == 5
    # raw top 3 {a,b,c}, outcome top 3 {b,d,e}: a and c are missing -> 2
    assert a.top_n == 3
    assert a.missing_from_outcome_top == 2


def test_rows_are_plain_rows_shared_between_lists():
    board = rank_board(DISTINCT)
    # tokens default to raw here; efficiency: all have tokens < 100_000 -> None.
    # flag: nearest-rank 90th pct of [100..500] = position ceil(4.5) = 5 -> 500; a has points.
    assert board.by_user["d"] == Row(
        user="d",
        raw=200.0,
        points=40.0,
        tokens=200.0,
        raw_rank=4,
        outcome_rank=2,
        move=2,
        efficiency=None,
        flagged=False,
    )
    assert board.raw[0] is board.by_user["a"] is board.outcome[4]
    assert board.agreement.top_n == 5  # min(10, 5 people)


# --- ties --------------------------------------------------------------------------

# raw:    u1=100 u2=100 u3=50 u4=50 u5=50 u6=10
# points: u1=5   u2=3   u3=5  u4=0  u5=3  u6=0
TIES = [
    P("u1", 100, 5),
    P("u2", 100, 3),
    P("u3", 50, 5),
    P("u4", 50, 0),
    P("u5", 50, 3),
    P("u6", 10, 0),
]


def test_ties_competition_ranks_and_order():
    # Feed in reverse order: list order must still break ties by user id ascending.
    board = rank_board(list(reversed(TIES)), top_n=2)
    assert [r.user for r in board.raw] == ["u1", "u2", "u3", "u4", "u5", "u6"]
    assert [r.raw_rank for r in board.raw] == [1, 1, 3, 3, 3, 6]
    assert [r.user for r in board.outcome] == ["u1", "u3", "u2", "u5", "u4", "u6"]
    assert [r.outcome_rank for r in board.outcome] == [1, 1, 3, 3, 5, 5]
    moves = {u: r.move for u, r in board.by_user.items()}
    assert moves == {"u1": 0, "u2": -2, "u3": 2, "u4": -2, "u5": 0, "u6": 1}


def test_ties_spearman_uses_average_ranks():
    a = rank_board(TIES).agreement
    # Average ranks (descending, same direction for both sides):
    #   raw    u1..u6 = 1.5 1.5 4 4 4 6         mean 3.5, dx = -2 -2 .5 .5 .5 2.5
    #   points u1..u6 = 1.5 3.5 1.5 5.5 3.5 5.5 mean 3.5, dy = -2 0 -2 2 0 2
    # sum dx*dy = 4+0-1+1+0+5 = 9; sum dx^2 = 15; sum dy^2 = 16
    # rho = 9 / sqrt(15*16) = 9 / sqrt(240)
    assert a.spearman == pytest.approx(9 / math.sqrt(240))
    assert a.spearman == pytest.approx(0.580948, abs=1e-6)


def test_ties_kendall_tau_b():
    a = rank_board(TIES).agreement
    # 15 pairs. Concordant: u1-u4 u1-u5 u1-u6 u2-u4 u2-u6 u3-u6 u5-u6 = 7
    # Discordant: u2-u3 = 1. Tied on raw: u1-u2 u3-u4 u3-u5 u4-u5 = 4 (=1+3 from groups 2,3)
    # Tied on points: u1-u3 u2-u5 u4-u6 = 3. tau-b = (7-1) / sqrt((15-4)*(15-3)) = 6/sqrt(132)
    assert a.kendall == pytest.approx(6 / math.sqrt(132))


def test_ties_top_n_uses_sorted_list_order():
    a = rank_board(TIES, top_n=2).agreement
    # raw top 2 = u1, u2 (tie on 100, by id); outcome top 2 = u1, u3 -> u2 missing
    assert (a.top_n, a.missing_from_outcome_top) == (2, 1)
    assert agreement_sentence(a, "yesterday") == (
        "Raw usage and outcomes agreed moderately yesterday: ρ = 0.58 (Kendall τ = 0.52) "
        "over 6 people; 1 of the raw top 2 is not in the outcome top 2."
    )


def test_random_ties_against_naive_formulas():
    rng = random.Random(7)
    people = [
        P(f"U{i:03d}", rng.choice([0, 1, 2, 5, 5, 8, 13]), rng.choice([0, 0, 1, 2, 3, 3]))
        for i in range(60)
    ]
    # the all-zero people are dropped, exactly as the naive side does here
    active = [p for p in people if p.raw or p.points or p.tokens]
    xs, ys = [p.raw for p in active], [p.points for p in active]
    board = rank_board(people, top_n=7)
    assert board.agreement.people == len(active)
    assert board.agreement.spearman == pytest.approx(naive_spearman(xs, ys))
    assert board.agreement.kendall == pytest.approx(naive_kendall_tau_b(xs, ys))
    for p in active:
        row = board.by_user[p.user]
        assert row.raw_rank == naive_competition_rank(xs, p.raw)
        assert row.outcome_rank == naive_competition_rank(ys, p.points)
    assert [r.user for r in board.raw] == [
        p.user for p in sorted(active, key=lambda p: (-p.raw, p.user))
    ]
    raw_top = {p.user for p in sorted(active, key=lambda p: (-p.raw, p.user))[:7]}
    out_top = {p.user for p in sorted(active, key=lambda p: (-p.points, p.user))[:7]}
    assert board.agreement.missing_from_outcome_top == len(raw_top - out_top)


# --- degenerate inputs -------------------------------------------------------------


def test_empty_input():
    board = rank_board([])
    assert board.raw == [] and board.outcome == [] and board.efficiency_leaders == []
    assert board.by_user == {}
    assert board.agreement == Agreement(
        people=0, spearman=None, kendall=None, top_n=0, missing_from_outcome_top=0
    )
    assert board.flag_threshold == 0.0
    assert board.org_efficiency is None
    assert agreement_sentence(board.agreement, "today") == (
        "Not enough activity today to compare the two boards."
    )


def test_only_all_zero_people_is_empty():
    board = rank_board([P("z1", 0, 0, 0), P("z2", 0, 0, 0)])
    assert board.agreement.people == 0 and board.raw == []


def test_all_zero_people_are_dropped():
    board = rank_board([P("a", 10, 1), P("zero", 0, 0, 0), P("b", 5, 2)])
    assert set(board.by_user) == {"a", "b"}
    assert board.agreement.people == 2


def test_one_person():
    board = rank_board([P("solo", 1_000, 3)])
    row = board.by_user["solo"]
    assert (row.raw_rank, row.outcome_rank, row.move) == (1, 1, 0)
    a = board.agreement
    assert a == Agreement(
        people=1, spearman=None, kendall=None, top_n=1, missing_from_outcome_top=0
    )
    assert agreement_sentence(a, "this week") == (
        "Not enough activity this week to compare the two boards."
    )


def test_all_zero_points_gives_no_correlation():
    board = rank_board([P("a", 300, 0), P("b", 200, 0), P("c", 100, 0)])
    a = board.agreement
    assert a.spearman is None and a.kendall is None
    # everyone ties on 0 points -> all outcome rank 1, outcome order by user id
    assert [r.outcome_rank for r in board.outcome] == [1, 1, 1]
    assert [r.user for r in board.outcome] == ["a", "b", "c"]
    assert agreement_sentence(a, "today") == "Not enough activity today to compare the two boards."
    assert board.org_efficiency == 0.0  # 0 points / 600 tokens


def test_two_people_perfect_agreement():
    a = rank_board([P("a", 2, 2), P("b", 1, 1)]).agreement
    assert a.spearman == pytest.approx(1.0) and a.kendall == pytest.approx(1.0)


def test_duplicate_ids_raise():
    with pytest.raises(ValueError, match="dup"):
        rank_board([P("a", 1, 1), P("b", 2, 2), P("a", 3, 3)])
    # even when one of the duplicates would have been dropped as all-zero
    with pytest.raises(ValueError):
        rank_board([P("a", 1, 1), P("a", 0, 0, 0)])


def test_non_finite_and_bad_parameters_raise():
    with pytest.raises(ValueError):
        rank_board([P("a", float("nan"), 1)])
    with pytest.raises(ValueError):
        rank_board([P("a", 1, 1)], flag_percentile=101)
    with pytest.raises(ValueError):
        rank_board([P("a", 1, 1)], top_n=-1)
    with pytest.raises(ValueError):
        rank_board([P("a", 1, 1)], efficiency_min_tokens=-5)


# --- efficiency ----------------------------------------------------------------------

# tokens: p1=1,000,000 p2=100,000 p3=50,000 p4=850,000 (total 2,000,000)
# points: p1=30        p2=10      p3=50     p4=0       (total 90)
# org_rate = 90 / 2,000,000 = 4.5e-5 per token -> org efficiency 45 points per 1M tokens
# prior = 100,000 tokens -> prior * org_rate = 4.5 points
EFF = [P("p1", 1_000_000, 30), P("p2", 100_000, 10), P("p3", 50_000, 50), P("p4", 850_000, 0)]


def test_efficiency_min_volume_and_shrinkage():
    board = rank_board(EFF, top_n=2)
    assert board.org_efficiency == pytest.approx(45.0)
    eff = {u: r.efficiency for u, r in board.by_user.items()}
    # p1: (30 + 4.5) / (1,000,000 + 100,000) * 1e6 = 34.5 / 1.1
    assert eff["p1"] == pytest.approx(34.5 / 1.1)  # 31.36...
    # p2: exactly at the minimum volume counts: (10 + 4.5) / 200,000 * 1e6 = 72.5
    assert eff["p2"] == pytest.approx(72.5)
    # p3: 50,000 < 100,000 -> None (its unshrunk 1000 pts/1M would otherwise top the board)
    assert eff["p3"] is None
    # p4: (0 + 4.5) / 950,000 * 1e6 = 4.5 / 0.95
    assert eff["p4"] == pytest.approx(4.5 / 0.95)  # 4.73...
    # leaders: p2 72.5 > p1 31.4 > p4 4.7, cut to top_n = 2
    assert [r.user for r in board.efficiency_leaders] == ["p2", "p1"]


def test_efficiency_prior_follows_min_tokens():
    board = rank_board(EFF, efficiency_min_tokens=50_000)
    # prior 50,000 -> prior * org_rate = 2.25 points
    # p3: (50 + 2.25) / 100,000 * 1e6 = 522.5
    assert board.by_user["p3"].efficiency == pytest.approx(522.5)
    # p2: (10 + 2.25) / 150,000 * 1e6 = 81.666...
    assert board.by_user["p2"].efficiency == pytest.approx(12.25 / 0.15)
    # p4 has an efficiency (4.7, shrunk toward the org rate) but no outcome points: it is
    # never listed as "most efficient"
    assert [r.user for r in board.efficiency_leaders] == ["p3", "p2", "p1"]


def test_efficiency_leaders_tie_break_by_user_and_no_tokens():
    # same tokens and points -> same efficiency -> ordered by user id
    board = rank_board([P("y", 200_000, 4), P("x", 200_000, 4), P("w", 50_000, 9)])
    assert [r.user for r in board.efficiency_leaders] == ["x", "y"]
    # nobody used tokens (raw is e.g. cost): no org efficiency, nobody gets one
    board = rank_board(
        [P("a", 5.0, 2, tokens=0), P("b", 3.0, 1, tokens=0)], efficiency_min_tokens=0
    )
    assert board.org_efficiency is None
    assert all(r.efficiency is None for r in board.raw)
    assert board.efficiency_leaders == []


# --- "high usage, no outcomes" flag --------------------------------------------------

# ten people with tokens 1000..10000; only t09 and t10 have no points among the top
FLAG = [P(f"t{i:02d}", i * 1000, 0 if i in (8, 9, 10) else 1) for i in range(1, 11)]


def test_flag_nearest_rank_90th_percentile():
    board = rank_board(FLAG)
    # n=10, p=90: position ceil(0.9*10) = 9 -> sorted ascending, 9th value = 9000
    assert board.flag_threshold == 9000
    flagged = sorted(r.user for r in board.raw if r.flagged)
    # t08 (8000) has no points but is below the threshold
    assert flagged == ["t09", "t10"]


def test_flag_percentile_boundaries():
    # p=70: ceil(7.0) = 7 -> 7000 (not 8000: no float drift from 0.7*10)
    assert rank_board(FLAG, flag_percentile=70).flag_threshold == 7000
    # p=95: ceil(9.5) = 10 -> 10000, only t10
    board = rank_board(FLAG, flag_percentile=95)
    assert board.flag_threshold == 10000
    assert [r.user for r in board.raw if r.flagged] == ["t10"]
    # p=75 with n=4 (EFF): ceil(3.0) = 3 -> tokens asc 50k,100k,850k,1M -> 850k; p4 flagged
    board = rank_board(EFF, flag_percentile=75)
    assert board.flag_threshold == 850_000
    assert [r.user for r in board.raw if r.flagged] == ["p4"]
    # p=90 with n=4: ceil(3.6) = 4 -> 1M, and p1 has points -> nobody
    board = rank_board(EFF)
    assert board.flag_threshold == 1_000_000
    assert not any(r.flagged for r in board.raw)


def test_flag_needs_some_tokens():
    # raw is cost here and nobody used tokens: threshold is 0, but tokens > 0 is required
    board = rank_board([P("a", 5.0, 0, tokens=0), P("b", 3.0, 0, tokens=0)])
    assert board.flag_threshold == 0.0
    assert not any(r.flagged for r in board.raw)


# --- wording ---------------------------------------------------------------------------


