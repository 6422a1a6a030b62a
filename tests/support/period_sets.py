"""A period's sorted sets written directly (as the ingest scripts keep them), random orgs
with ties everywhere, and the board that ranking everyone gives for comparison."""

from __future__ import annotations

import random

from bot.core.config import BoardConfig
from bot.core.periods import Bucket
from bot.core.ranking import PersonTotals, rank_board
from bot.store.store import Store

BUCKET = Bucket("w", "2026-W48")


def fill(store: Store, people: dict[str, tuple[float, float, float]], raw_metric: str = "tokens"
         ) -> None:
    """Write (raw, points, tokens) per person straight into the period's sorted sets, as
    the ingest scripts keep them (both boards hold the same members)."""
    pipe = store.r.pipeline(transaction=False)
    for user, (raw, points, tokens) in people.items():
        pipe.zadd(store.keys.board(raw_metric, BUCKET), {user: raw})
        pipe.zadd(store.keys.board("points", BUCKET), {user: points})
        if raw_metric != "tokens":
            pipe.zadd(store.keys.board("tokens", BUCKET), {user: tokens})
    pipe.incr(store.keys.key("gen"))
    pipe.execute()


def expected(people: dict[str, tuple[float, float, float]], hidden: set[str],
             config: BoardConfig):
    shown = [PersonTotals(u, raw=r, points=p, tokens=t) for u, (r, p, t) in people.items()
             if u not in hidden]
    return rank_board(shown, top_n=config.board_size,
                      efficiency_min_tokens=config.efficiency_min_tokens)


def random_org(rng: random.Random, n: int) -> dict[str, tuple[float, float, float]]:
    """Few distinct values, so ties are everywhere (also across the cut-off)."""
    people = {}
    for i in range(n):
        tokens = float(rng.choice([1000, 5000, 5000, 20000, 250000, 1e6]))
        points = float(rng.choice([0, 0, 0, 1, 2, 2, 3.5, 10, -1]))
        people[f"U{i:05d}"] = (tokens, points, tokens)
    return people
