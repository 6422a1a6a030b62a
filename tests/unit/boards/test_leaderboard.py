"""bot.boards.leaderboard: a period's two boards as a request reads them (top N, the
viewer's line, whole-population figures refreshed on the spot for a small org) and as the
digest and the CLI read them (everyone, cached by generation); real Redis.

Expected rows come from ranking the same people with `rank_board` on totals written here
(tests/support/period_sets.py); efficiency and flags from the formulas of the README,
written out again below.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
import redis

import bot.boards.leaderboard as leaderboard_module
from bot.boards.leaderboard import Leaderboards, ranked_on_request, with_figures
from bot.boards.read import read_top
from bot.core.agreement import Agreement
from bot.core.config import BoardConfig
from bot.core.population import Population, signature
from bot.core.ranking import Board, Row
from bot.store.store import Store
from tests.support.period_sets import BUCKET, expected, fill, random_org

WEDNESDAY = datetime(2026, 11, 25, 12, tzinfo=UTC)  # inside BUCKET, the ISO week 2026-W48


def board_at(store: Store) -> Leaderboards:
    return Leaderboards(store, now=lambda: WEDNESDAY)


def test_an_org_of_two_thousand_is_ranked_on_request_and_a_larger_one_is_not() -> None:
    # "Up to 2,000 people a read refreshes out-of-date figures itself" (architecture)
    assert ranked_on_request(1) and ranked_on_request(2000)
    assert not ranked_on_request(2001)


def test_the_period_board_names_the_week_and_shows_the_top_of_both_boards(
        redis_client: redis.Redis) -> None:
    store = Store(redis_client)
    people = {"U0A": (900.0, 1.0, 900.0), "U0B": (800.0, 9.0, 800.0),
              "U0C": (100.0, 4.0, 100.0)}
    fill(store, people)
    pb = board_at(store).period_board("week", BoardConfig(), viewer="U0C", top_n=2)
    assert (pb.bucket, pb.label, pb.name) == (BUCKET, "this week", "week of 23 Nov")
    # usage: A 900 > B 800 > C 100; outcomes: B 9 > C 4 > A 1 (top 2 of each shown)
    assert [r.user for r in pb.board.raw] == ["U0A", "U0B"]
    assert [r.user for r in pb.board.outcome] == ["U0B", "U0C"]
    viewer = pb.board.by_user["U0C"]
    assert (viewer.raw_rank, viewer.outcome_rank, viewer.move) == (3, 2, 1)
    assert pb.board.people == 3


def test_the_full_board_ranks_everyone_but_who_opted_out_except_the_viewer(
        redis_client: redis.Redis) -> None:
    store = Store(redis_client)
    people = random_org(random.Random(7), 60)
    fill(store, people)
    store.privacy.set_opt_out("U00003", True)
    store.privacy.set_opt_out("U00004", True)
    config = BoardConfig()
    pb = board_at(store).full_board("week", config, viewer="U00004")
    want = expected(people, {"U00003"}, config)
    assert [r.user for r in pb.board.raw] == [r.user for r in want.raw]
    assert [r.user for r in pb.board.outcome] == [r.user for r in want.outcome]
    assert pb.board.agreement == want.agreement


def test_the_full_board_is_cached_until_a_report_changes_the_generation(
        redis_client: redis.Redis) -> None:
    store = Store(redis_client)
    fill(store, {"U0A": (5.0, 1.0, 5.0), "U0B": (3.0, 2.0, 3.0)})
    lb = board_at(store)
    first = lb.full_board("week").board
    assert lb.full_board("week").board is first  # nothing changed: the same board
    fill(store, {"U0C": (9.0, 0.0, 9.0)})  # a report bumps the generation
    again = lb.full_board("week").board
    assert again is not first and [r.user for r in again.raw] == ["U0C", "U0A", "U0B"]


def test_a_small_org_without_figures_gets_them_computed_by_the_read(
        redis_client: redis.Redis) -> None:
    store = Store(redis_client)
    people = random_org(random.Random(3), 40)
    fill(store, people)
    config = BoardConfig()
    board = board_at(store).top_board(BUCKET, config, viewer="U00001")
    want = expected(people, set(), config)
    assert not board.figures_missing and board.figures_age is None
    assert board.agreement.spearman == pytest.approx(want.agreement.spearman)
    assert board.agreement.kendall == pytest.approx(want.agreement.kendall)
    assert board.flag_threshold == want.flag_threshold
    assert board.flagged_count == want.flagged_count


@pytest.mark.parametrize("seed", range(4))
def test_figures_put_on_the_rows_read_equal_a_second_read(redis_client: redis.Redis,
                                                          seed: int) -> None:
    """What the one read gives a small org with stale figures is what reading again after
    the refresh gave (the rows, ranks, moves, efficiency, flags and every figure)."""
    rng = random.Random(seed)
    store = Store(redis_client)
    people = random_org(rng, rng.randint(8, 300))
    fill(store, people)
    config = BoardConfig(board_size=rng.choice([5, 10]))
    lb = board_at(store)
    viewer = rng.choice(sorted(people))
    if seed % 2:  # figures stored, then the data moved on: stale rather than missing
        lb.refresh_population(BUCKET, config)
        fill(store, {viewer: (1e6, 3.0, 1e6)})
    one_read = lb.top_board(BUCKET, config, viewer, period=None)
    again = read_top(store, BUCKET, config, viewer).board
    assert list(one_read.raw) == list(again.raw)
    assert list(one_read.outcome) == list(again.outcome)
    assert dict(one_read.by_user) == dict(again.by_user)
    assert one_read.agreement == again.agreement
    assert (one_read.flag_threshold, one_read.org_efficiency, one_read.flagged_count,
            one_read.people, one_read.figures_missing) == (
        again.flag_threshold, again.org_efficiency, again.flagged_count, again.people,
        again.figures_missing)
    assert one_read.figures_age is None and again.figures_age is None
    # the efficiency leaders: the second read's, less those whose rows were not read
    # (no view of a request shows them), in the same order and with the same rows
    ours = list(one_read.efficiency_leaders)
    assert [r for r in again.efficiency_leaders if r in ours] == ours
    assert all(r in ours for r in again.efficiency_leaders if r.user in one_read.by_user)


def test_the_board_script_runs_once_when_a_small_org_refreshes_its_figures(
        redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(redis_client)
    fill(store, random_org(random.Random(1), 30))
    reads = []

    def counted(*args: object, **kwargs: object) -> object:
        reads.append(args)
        return read_top(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(leaderboard_module, "read_top", counted)
    lb = board_at(store)
    lb.top_board(BUCKET, BoardConfig(), viewer=None)  # figures missing: refreshed here
    assert len(reads) == 1
    lb.top_board(BUCKET, BoardConfig(), viewer=None)  # fresh now
    assert len(reads) == 2


def row(user: str, raw: float, points: float, tokens: float, raw_rank: int,
        outcome_rank: int) -> Row:
    return Row(user, raw, points, tokens, raw_rank, outcome_rank, raw_rank - outcome_rank,
               None, False)


def test_with_figures_recomputes_efficiency_and_flags_from_the_new_figures() -> None:
    config = BoardConfig(efficiency_min_tokens=100)
    a, b, c = (row("U0A", 1000, 0, 1000, 1, 3), row("U0B", 500, 6, 500, 2, 1),
               row("U0C", 50, 2, 50, 3, 2))
    stale = Board(raw=[a, b], outcome=[b, c], by_user={"U0A": a, "U0B": b, "U0C": c},
                  agreement=Agreement(people=3, spearman=None, kendall=None, top_n=2,
                                      missing_from_outcome_top=1),
                  efficiency_leaders=[], flag_threshold=0.0, org_efficiency=None,
                  people=3, figures_missing=True)
    rate = 8 / 1550  # points over tokens of everyone
    figures = Population(people=3, spearman=-0.5, kendall=-1 / 3, flag_threshold=1000.0,
                         org_rate=rate, flagged_count=1,
                         efficiency_leaders=(("U0B", 1.0), ("U0C", 0.5), ("U0A", 0.1)),
                         generation=7, computed_at=100.0, signature=signature(config))
    board = with_figures(stale, figures, config, generation=7, now=160.0, top_n=2)
    # efficiency = (points + 100 · rate) / (tokens + 100) · 1e6, from 100 tokens on
    assert board.by_user["U0A"].efficiency == pytest.approx((0 + 100 * rate) / 1100 * 1e6)
    assert board.by_user["U0B"].efficiency == pytest.approx((6 + 100 * rate) / 600 * 1e6)
    assert board.by_user["U0C"].efficiency is None  # 50 tokens: under the minimum
    # flagged: tokens at or over the threshold and no points
    assert [r.flagged for r in board.raw] == [True, False]
    assert board.raw[0] is board.by_user["U0A"]  # one Row per person, as read_top gives
    assert (board.agreement.spearman, board.agreement.kendall) == (-0.5, pytest.approx(-1 / 3))
    assert board.agreement.missing_from_outcome_top == 1 and board.people == 3
    assert (board.flag_threshold, board.flagged_count) == (1000.0, 1)
    assert board.org_efficiency == pytest.approx(rate * 1e6)
    assert [r.user for r in board.efficiency_leaders] == ["U0B", "U0C"]  # at most 2
    assert board.figures_age is None and not board.figures_missing
    older = with_figures(stale, figures, config, generation=8, now=160.0, top_n=2)
    assert older.figures_age == 60.0  # computed at generation 7, the data is at 8
