"""The board as a request reads it: the top N of each board, the viewer's own line and the
moves of the rows shown, in one Lua script whose cost does not grow with the org
(O(h + (N + h)·log n) for N rows shown and h people opted out). Its one write notes that
the period was read, so the background keeps its figures fresh.

The script runs atomically, so the ranks, moves and people count of one reply come from
one instant even while reports stream in. Ranks are competition ranks ("1224"): 1 + the
number of people shown to the viewer with a strictly higher value (`ZCOUNT (score +inf`
minus the opted-out people above). Ties are listed by user id, as the full ranking does:
Redis lists equal scores in reverse byte order, so the members tied at the cut-off are
read again in id order (`ZRANGEBYSCORE s s LIMIT`).

Whole-population figures (ρ, τ, flag threshold, efficiency) come from the stored
`Population` of the period (see `bot.core.population`), read in the same script. The
script is bot/store/lua/top.lua, run by `Store.reads.top`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from bot.core.config import BoardConfig
from bot.core.periods import Bucket
from bot.core.population import Population, signature
from bot.core.ranking import Agreement, Board, Row
from bot.store.store import Store

EXTRA_ROWS_MAX = 50  # stored efficiency leaders read with the board, at most


@dataclass(frozen=True)
class TopRead:
    """What the script read: the board (top rows, the viewer's row, fresh people count
    and moves), the stored population figures it used, and the generation read."""

    board: Board
    population: Population | None
    generation: int


def read_top(store: Store, bucket: Bucket, config: BoardConfig, viewer: str | None,
             top_n: int | None = None, now: float | None = None, wanted: str = "") -> TopRead:
    """The top `top_n` (default: the board size) of both boards for `viewer`: opted-out
    people are left out except the viewer themself. Rows carry efficiency and flags when
    stored population figures computed with this configuration exist; the board says how
    old they are (`figures_age`). `wanted`: the period's member of the set of periods
    being read, marked with `now` ('' marks nothing)."""
    n = config.board_size if top_n is None else top_n
    now = time.time() if now is None else now
    reply = store.reads.top(bucket, config.raw_metric, n, viewer, min(n, EXTRA_ROWS_MAX),
                            period=wanted, now=now)
    population = Population.from_json(reply.figures) if reply.figures else None
    if population is not None and population.signature != signature(config):
        population = None
    rows = _rows(reply.rows, population, config)
    raw = [rows[u] for u in reply.raw_top]
    outcome = [rows[u] for u in reply.points_top]
    people = reply.people
    shown = min(n, people)
    raw_ids = {r.user for r in raw[:shown]}
    missing = len(raw_ids - {r.user for r in outcome[:shown]})
    agreement = Agreement(
        people=people,
        spearman=population.spearman if population else None,
        kendall=population.kendall if population else None,
        top_n=shown, missing_from_outcome_top=missing)
    leaders = [rows[u] for u, _ in population.efficiency_leaders if u in rows] if population \
        else []
    viewer_row = rows.get(viewer) if viewer else None
    by_user = {r.user: r for r in raw + outcome}
    if viewer_row is not None:
        by_user[viewer_row.user] = viewer_row
    age = None
    if population is not None and population.generation != reply.generation:
        age = max(0.0, now - population.computed_at)
    board = Board(
        raw=raw, outcome=outcome, by_user=by_user, agreement=agreement,
        efficiency_leaders=leaders[:n],
        flag_threshold=population.flag_threshold if population else 0.0,
        org_efficiency=population.org_rate * 1e6 if population and population.org_rate
        is not None else None,
        flagged_count=population.flagged_count if population else 0,
        people=people, figures_age=age, figures_missing=population is None)
    return TopRead(board=board, population=population, generation=reply.generation)


def _rows(table: Sequence[tuple[str, float, float, float, int, int]],
          population: Population | None, config: BoardConfig) -> dict[str, Row]:
    rows: dict[str, Row] = {}
    for user, raw, points, tokens, raw_above, outcome_above in table:
        raw_rank, outcome_rank = raw_above + 1, outcome_above + 1
        efficiency = flagged = None
        if population is not None:
            efficiency = population.efficiency(points, tokens, config.efficiency_min_tokens)
            flagged = population.flags(points, tokens)
        rows[user] = Row(user, raw, points, tokens, raw_rank, outcome_rank,
                         raw_rank - outcome_rank, efficiency, bool(flagged))
    return rows
