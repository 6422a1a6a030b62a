"""bot.boards.rank_history: one person's daily ranks read from the day sets match ranking
each whole day's board (real Redis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import redis

from bot.boards.rank_history import daily_ranks
from bot.core.periods import day_bucket
from bot.runtime.deps import Deps
from tests.support.day_reports import outcome, record, usage


def test_daily_ranks_match_the_whole_board(deps: Deps, redis_client: redis.Redis) -> None:
    today = datetime.now(UTC).date()
    d1, d2, d3 = (today - timedelta(days=n) for n in (3, 2, 1))
    record(deps, [
        # d1: tokens A 300, V 200, B 200 (tie), C 100 → V is 2nd (competition "1224")
        usage("1", "U0A", d1, 300), usage("2", "U0V", d1, 200), usage("3", "U0B", d1, 200),
        usage("4", "U0C", d1, 100),
        # points: C deploy 3, V review 2 → C 1st, V 2nd, A and B 0 → 3rd
        outcome("5", "U0C", d1, "deploy"), outcome("6", "U0V", d1, "review"),
        # d2: only V and the opted-out O, who scores more on both boards
        usage("7", "U0V", d2, 50), usage("8", "U0O", d2, 500), outcome("9", "U0O", d2, "deploy"),
        # d3: V has only outcome points (a pr_merged, 5), A only tokens
        outcome("10", "U0V", d3, "pr_merged"), usage("11", "U0A", d3, 10),
    ])
    deps.store.privacy.set_opt_out("U0O", True)
    hidden = deps.leaderboards.hidden_from("U0V")
    config = deps.store.configs.load()
    redis_client.config_resetstat()
    history = daily_ranks(deps.store, "U0V", today - timedelta(days=1), hidden=hidden)
    stats = redis_client.info("commandstats")
    assert len(history) == 30 and history[-1].day == d3
    # nothing read a whole board: only point reads and counts
    assert not [c for c in stats if "zrange" in c or "zunion" in c]
    by_day = {h.day: (h.raw, h.outcome) for h in history}
    assert by_day[d1] == (2, 2)
    assert by_day[d2] == (1, 1)  # O is left out of the boards V sees
    assert by_day[d3] == (2, 1)  # tokens: A 10 > V 0; points: V 5 > A 0
    assert sum(1 for h in history if h.raw is not None) == 3
    for day in (d1, d2, d3):  # and the same as ranking each whole day board
        row = deps.leaderboards.board_for_bucket(day_bucket(day), config, hidden).by_user["U0V"]
        assert by_day[day] == (row.raw_rank, row.outcome_rank)
