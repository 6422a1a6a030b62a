"""The request-time board read (bot.boards.read): top N, the viewer's line and the moves,
checked against ranking everyone with bot.core.ranking.rank_board, on a real Redis."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
import redis

from bot.boards import leaderboard as leaderboard_module
from bot.boards.leaderboard import Leaderboards
from bot.core.config import BoardConfig
from bot.render.blocks import leaderboard_blocks
from bot.store.store import Store
from tests.support.period_sets import BUCKET, expected, fill, random_org


@pytest.mark.parametrize("seed", range(6))
def test_top_rows_ranks_and_moves_match_ranking_everyone(redis_client: redis.Redis,
                                                         seed: int) -> None:
    rng = random.Random(seed)
    people = random_org(rng, rng.randint(15, 400))
    store = Store(redis_client)
    fill(store, people)
    hidden = set(rng.sample(sorted(people), rng.randint(0, 5)))
    viewer = rng.choice(sorted(people))
    for user in hidden | {viewer}:
        # the viewer is opted out too: they still see themself
        store.privacy.set_opt_out(user, True)
    config = BoardConfig(board_size=rng.choice([5, 10, 25]))
    lb = Leaderboards(store)
    lb.refresh_population(BUCKET, config)
    board = lb.top_board(BUCKET, config, viewer)
    want = expected(people, hidden - {viewer}, config)
    n = config.board_size
    assert [r.user for r in board.raw] == [r.user for r in want.raw[:n]]
    assert [r.user for r in board.outcome] == [r.user for r in want.outcome[:n]]
    assert board.people == want.agreement.people
    # ρ, τ, the org rate and the flag threshold come from the stored figures, computed
    # without anyone who opted out (the viewer too)
    everyone = expected(people, hidden | {viewer}, config)
    rate = sum(p for u, (_, p, _) in people.items() if u not in hidden | {viewer}) / sum(
        t for u, (_, _, t) in people.items() if u not in hidden | {viewer})
    prior = config.efficiency_min_tokens
    for row in list(board.raw) + list(board.outcome) + [board.by_user[viewer]]:
        ref = want.by_user[row.user]
        assert (row.raw, row.points, row.raw_rank, row.outcome_rank, row.move) == (
            ref.raw, ref.points, ref.raw_rank, ref.outcome_rank, ref.move)
        assert row.flagged == (row.tokens > 0 and row.points == 0
                               and row.tokens >= everyone.flag_threshold)
        eff = (row.points + prior * rate) / (row.tokens + prior) * 1e6
        assert row.efficiency == (pytest.approx(eff) if row.tokens >= prior else None)
    assert board.agreement.missing_from_outcome_top == want.agreement.missing_from_outcome_top
    assert board.agreement.spearman == pytest.approx(everyone.agreement.spearman)
    assert board.figures_age is None and not board.figures_missing


def test_a_raw_metric_other_than_tokens_reads_tokens_for_flags(redis_client: redis.Redis
                                                               ) -> None:
    people = {"UA": (9.0, 0.0, 5e6), "UB": (3.0, 4.0, 1e3), "UC": (1.0, 0.0, 2e5),
              "UD": (2.0, 1.0, 3e5), "UE": (5.0, 0.0, 7e3)}
    store = Store(redis_client)
    fill(store, people, raw_metric="cost")
    config = BoardConfig(raw_metric="cost", board_size=5)
    lb = Leaderboards(store)
    board = lb.top_board(BUCKET, config, "UC")
    want = expected(people, set(), config)
    assert [r.user for r in board.raw] == ["UA", "UE", "UB", "UD", "UC"]
    for user in ("UA", "UB", "UC", "UE"):
        got, ref = board.by_user[user], want.by_user[user]
        assert (got.tokens, got.flagged, got.raw_rank) == (ref.tokens, ref.flagged, ref.raw_rank)


def test_the_read_costs_the_same_commands_for_100_or_5000_people(
        redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing in a request reads the whole population: the Redis commands one board read
    runs (Lua's included) are the same for a small org and a big one."""
    monkeypatch.setattr(leaderboard_module, "INLINE_PEOPLE", 0)  # the background's job
    config = BoardConfig(board_size=10)

    def commands_for(n: int) -> dict[str, int]:
        redis_client.flushdb()
        store = Store(redis_client)
        # the usage top 10 and the outcome top 10 are always 20 different people
        fill(store, {f"U{i:05d}": (float(i + 1), float(n - i), 0.0) for i in range(n)})
        lb = Leaderboards(store)
        lb.top_board(BUCKET, config, "U00003")  # scripts loaded, figures wanted
        redis_client.config_resetstat()
        lb.top_board(BUCKET, config, "U00003")
        stats = redis_client.info("commandstats")
        return {name: value["calls"] for name, value in stats.items()
                if name not in ("cmdstat_config", "cmdstat_info")}

    small, big = commands_for(100), commands_for(5000)
    assert small == big
    assert "cmdstat_zrange" not in big and sum(big.values()) < 120


def test_large_org_figures_come_from_the_background_and_say_how_old(
        redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(leaderboard_module, "INLINE_PEOPLE", 3)
    rng = random.Random(7)
    people = random_org(rng, 60)
    store = Store(redis_client)
    fill(store, people)
    config = BoardConfig(board_size=5)
    lb = Leaderboards(store)
    first = lb.top_board(BUCKET, config, "U00001")
    assert first.figures_missing and first.agreement.spearman is None
    # the words still rest on the top-5 overlap; ρ is promised, not invented
    pb = lb._period("week", BUCKET, config, first, lb.now())
    text = str(leaderboard_blocks(pb, "U00001", {}))
    assert "being computed" in text and "heaviest users" in text

    assert lb.refresh_wanted(config) == [("", BUCKET)]  # the week was read: refreshed
    assert lb.refresh_wanted(config) == []  # nothing changed since
    fresh = lb.top_board(BUCKET, config, "U00001")
    assert fresh.agreement.spearman == pytest.approx(
        expected(people, set(), config).agreement.spearman)
    assert fresh.figures_age is None

    people["U00002"] = (9e9, 0.0, 9e9)  # a new top user: the rows show it at once
    fill(store, {"U00002": people["U00002"]})
    computed = store.r.get(store.keys.population(BUCKET.scope, BUCKET.name))
    assert computed is not None
    clock = lb.now
    lb.now = lambda: clock() + timedelta(seconds=40)
    stale = lb.top_board(BUCKET, config, "U00001")
    assert stale.raw[0].user == "U00002" and stale.raw[0].raw_rank == 1
    assert stale.figures_age is not None and 39 <= stale.figures_age <= 60
    pb = lb._period("week", BUCKET, config, stale, lb.now())
    assert "computed 4" in str(leaderboard_blocks(pb, "U00001", {}))


def test_refresh_is_claimed_by_one_process_at_a_time(redis_client: redis.Redis) -> None:
    store = Store(redis_client)
    fill(store, random_org(random.Random(3), 30))
    config = BoardConfig()
    one, two = Leaderboards(store), Leaderboards(Store(redis_client))
    one.top_board(BUCKET, config, None)  # read: wanted (and computed inline: small org)
    fill(store, {"U09999": (5.0, 1.0, 5.0)})  # changed since
    assert one.refresh_wanted(config, owner="a") == [("", BUCKET)]
    fill(store, {"U09998": (6.0, 1.0, 6.0)})
    assert two.refresh_wanted(config, owner="b") == []  # claimed for REFRESH_EVERY - 5 s


def test_only_people_keep_a_period_wanted(redis_client: redis.Redis) -> None:
    """The background reads a period to draw its chart; that must not keep the period
    refreshed forever once nobody reads it."""
    store = Store(redis_client)
    fill(store, random_org(random.Random(5), 20))
    lb = Leaderboards(store)
    lb.period_board("week", remember=False)
    assert redis_client.zcard(store.keys.population_wanted()) == 0
    lb.period_board("week", viewer="U00001")
    [(member, when)] = redis_client.zrange(store.keys.population_wanted(), 0, -1,
                                           withscores=True)
    assert member.decode().startswith("week|w:")
    assert abs(when - lb.now().timestamp()) < 60
