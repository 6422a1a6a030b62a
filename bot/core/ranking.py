"""Rank people on the raw board and the outcome board.

This module is deliberately pure: it takes per-person totals that the store has
already aggregated (`bot.core.totals`) and returns plain frozen dataclasses. No Redis,
no Slack, no clock, no I/O, so every number the bot posts can be reproduced in a unit
test.

Why two boards: a leaderboard of raw token usage rewards spending, not shipping.
tokenboard always puts the outcome-weighted ranking next to the raw one and says,
in one sentence, how much they agree (`bot.core.agreement`: Spearman's rho and
Kendall's tau-b), so a reader can see at a glance whether "uses the most AI" means
"delivers the most".

Performance: the ranking, correlation, efficiency and flag maths are vectorised
with numpy/scipy; the only per-person Python work is reading the inputs and
building one ``Row`` (a NamedTuple) each.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

# Agreement and totals live in modules of their own; these names stay importable from here.
from bot.core.agreement import (
    MIN_TO_COMPARE,
    PENDING,
    Agreement,
    agreement_sentence,
    agreement_strength,
    agreement_summary,
    correlations,
    spearman,
)
from bot.core.totals import PersonTotals, Totals

__all__ = [
    "MIN_TO_COMPARE",
    "PENDING",
    "Agreement",
    "Board",
    "PersonTotals",
    "Row",
    "Totals",
    "agreement_sentence",
    "agreement_strength",
    "agreement_summary",
    "rank_board",
    "spearman",
]

TOKENS_PER_EFFICIENCY_UNIT = 1_000_000.0
"""Efficiency is quoted in outcome points per this many tokens (1M) so the numbers are readable."""


class Row(NamedTuple):
    """One person's line on both boards. The same object appears in every list of a Board.

    A NamedTuple rather than a dataclass: immutable, and cheap enough to build 100k of.
    """

    user: str
    raw: float
    points: float
    tokens: float
    raw_rank: int
    """Competition rank ("1224") on raw: 1 + number of people with strictly higher raw."""
    outcome_rank: int
    """Competition rank on points: 1 + number of people with strictly more points."""
    move: int
    """raw_rank - outcome_rank; positive means the person ranks better on the outcome board."""
    efficiency: float | None
    """Shrunk outcome points per 1M tokens; None below the minimum token volume."""
    flagged: bool
    """High usage, no outcomes: tokens in the top percentile band and zero points."""


class _RowMaker:
    """Builds person i's Row on first use and keeps it, so each person is one object."""

    def __init__(self, users: list[str], *columns: np.ndarray) -> None:
        self.users = users
        self.columns = columns
        self.made: dict[int, Row] = {}

    def __call__(self, i: int) -> Row:
        row = self.made.get(i)
        if row is None:
            raw, points, tokens, raw_rank, outcome_rank, move, eff, flagged = (
                c[i].item() for c in self.columns)
            row = Row(self.users[i], raw, points, tokens, raw_rank, outcome_rank, move,
                      None if math.isnan(eff) else eff, flagged)
            self.made[i] = row
        return row


class RowList(Sequence[Row]):
    """Everyone on one board, in board order; Rows are built only for what is read."""

    def __init__(self, order: np.ndarray, make: _RowMaker) -> None:
        self._order = order
        self._make = make

    def __len__(self) -> int:
        return len(self._order)

    def __getitem__(self, i: int | slice) -> Row | list[Row]:  # type: ignore[override]
        if isinstance(i, slice):
            return [self._make(j) for j in self._order[i].tolist()]
        return self._make(int(self._order[i]))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence):
            return list(self) == list(other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"RowList({len(self)} rows)"


class RowsByUser(Mapping[str, Row]):
    """user id → Row, built lazily like RowList."""

    def __init__(self, users: list[str], make: _RowMaker) -> None:
        self._users = users
        self._make = make
        self._index: dict[str, int] | None = None

    def _positions(self) -> dict[str, int]:
        if self._index is None:
            self._index = {u: i for i, u in enumerate(self._users)}
        return self._index

    def __getitem__(self, user: str) -> Row:
        return self._make(self._positions()[user])

    def __iter__(self) -> Iterator[str]:
        return iter(self._users)

    def __len__(self) -> int:
        return len(self._users)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return dict(self.items()) == dict(other.items())
        return NotImplemented

    def __repr__(self) -> str:
        return f"RowsByUser({len(self)} people)"


@dataclass(frozen=True, slots=True)
class Board:
    """Everything a renderer needs for one period; contains no formatting."""

    raw: Sequence[Row]
    """Everyone, sorted by (raw desc, user id asc)."""
    outcome: Sequence[Row]
    """Everyone, sorted by (points desc, user id asc)."""
    by_user: Mapping[str, Row]
    agreement: Agreement
    efficiency_leaders: list[Row]
    """People with an efficiency and outcome points, sorted by efficiency desc then user
    id, at most top_n."""
    flag_threshold: float
    """The nearest-rank tokens percentile used for the flag (0.0 when nobody is active)."""
    org_efficiency: float | None
    """Total points / total tokens * 1e6 over everyone; None if nobody used any tokens."""
    flagged_count: int = 0
    """How many people carry the "high usage, no outcomes" flag."""
    people: int = 0
    """How many people are on the board (all of them, not only the rows listed)."""
    figures_age: float | None = None
    """Seconds since the whole-population figures (ρ, τ, flag threshold, efficiency) were
    computed, when the data has changed since; None when they match the rows exactly."""
    figures_missing: bool = False
    """The whole-population figures are not computed yet (a large org's first read)."""


def _order_and_ranks(values: np.ndarray, by_user: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort order (value desc, user id asc) and competition ranks ("1224") for ``values``.

    ``by_user`` is the permutation that sorts people by user id. A *stable* argsort of
    the negated values taken in user-id order therefore breaks ties by user id, which
    is cheaper than np.lexsort. Competition ranks then fall out of the same order for
    free: everyone in a run of equal values gets 1 + the index where the run starts,
    i.e. 1 + the number of people with a strictly higher value.
    """
    order = by_user[np.argsort(-values[by_user], kind="stable")]
    n = values.size
    ranks = np.empty(n, dtype=np.int64)
    if n == 0:
        return order, ranks
    in_order = values[order]
    starts_run = np.empty(n, dtype=bool)
    starts_run[0] = True
    np.not_equal(in_order[1:], in_order[:-1], out=starts_run[1:])
    run_start = np.maximum.accumulate(np.where(starts_run, np.arange(n), 0))
    ranks[order] = run_start + 1
    return order, ranks


def _nearest_rank_percentile(values: np.ndarray, percentile: float) -> float:
    """Nearest-rank percentile: sorted ascending, the value at 1-based position ceil(p/100 * n).

    The nearest-rank method always returns an observed value (no interpolation), which
    keeps the flag explainable ("at or above the 9th-lowest usage of 10 people").
    ``p * n / 100`` is computed in that order (and lightly rounded) so that e.g.
    p=70, n=10 gives exactly 7 rather than 7.000000000000001 -> 8.
    """
    n = values.size
    if n == 0:
        return 0.0
    position = math.ceil(round(percentile * n / 100.0, 9))
    position = min(max(position, 1), n)
    return float(np.partition(values, position - 1)[position - 1])


def rank_board(
    people: Iterable[PersonTotals] | Totals,
    *,
    top_n: int = 10,
    efficiency_min_tokens: float = 100_000,
    flag_percentile: float = 90,
) -> Board:
    """Rank everyone on both boards and compute agreement, efficiency and flags.

    Active people: everyone passed in, except anyone whose raw, points and tokens are
    all zero (they carry no information and would only dilute the correlations).
    Duplicate user ids raise ValueError, because silently merging or dropping one
    would publish a wrong number; the store must aggregate first. Non-finite values
    (NaN/inf) also raise ValueError since they cannot be ranked.

    Ranks are competition ranks ("1224"); list order among ties is user id ascending
    so output is deterministic.

    Efficiency (outcome points per 1M tokens) is only given to people with
    ``tokens >= efficiency_min_tokens`` and is shrunk toward the org-wide rate::

        prior    = efficiency_min_tokens
        org_rate = total points / total tokens      (0 if nobody used tokens)
        eff      = (points + prior * org_rate) / (tokens + prior) * 1e6

    i.e. each person is credited with ``prior`` imaginary tokens spent at the org
    rate. Someone who barely clears the minimum volume with a lucky point lands
    roughly halfway to the org rate instead of topping the board; heavy users are
    barely affected. (If ``efficiency_min_tokens`` is 0, people with 0 tokens still
    get None, as the ratio is undefined.)

    Flag "high usage, no outcomes": tokens > 0, tokens >= the nearest-rank
    ``flag_percentile`` of tokens over active people, and points == 0.
    """
    if top_n < 0:
        raise ValueError(f"top_n must be >= 0, got {top_n}")
    if not efficiency_min_tokens >= 0:
        raise ValueError(f"efficiency_min_tokens must be >= 0, got {efficiency_min_tokens}")
    if not 0 <= flag_percentile <= 100:
        raise ValueError(f"flag_percentile must be within [0, 100], got {flag_percentile}")

    totals = people if isinstance(people, Totals) else Totals.of(people)
    users_all = totals.users
    if len(set(users_all)) != len(users_all):
        dupes = sorted(u for u, c in Counter(users_all).items() if c > 1)
        shown = ", ".join(dupes[:5]) + (", ..." if len(dupes) > 5 else "")
        raise ValueError(f"duplicate user ids in ranking input: {shown}")

    raw, points, tokens = totals.raw, totals.points, totals.tokens
    for name, arr in (("raw", raw), ("points", points), ("tokens", tokens)):
        if not np.isfinite(arr).all():
            raise ValueError(f"non-finite {name} value in ranking input")
    keep = (raw != 0) | (points != 0) | (tokens != 0)
    if keep.all():
        users = users_all
    else:
        users = [u for u, k in zip(users_all, keep.tolist(), strict=True) if k]
        raw, points, tokens = raw[keep], points[keep], tokens[keep]
    n = len(users)
    if n == 0:
        return Board(
            raw=[],
            outcome=[],
            by_user={},
            agreement=Agreement(
                people=0, spearman=None, kendall=None, top_n=0, missing_from_outcome_top=0
            ),
            efficiency_leaders=[],
            flag_threshold=0.0,
            org_efficiency=None,
        )

    # People in user-id order (Python's str order), the tie-breaker for every sort below.
    by_user = np.array(sorted(range(n), key=users.__getitem__), dtype=np.int64)
    raw_order, raw_rank = _order_and_ranks(raw, by_user)
    outcome_order, outcome_rank = _order_and_ranks(points, by_user)
    move = raw_rank - outcome_rank

    # Efficiency, shrunk toward the org rate (see docstring).
    total_points = float(points.sum())
    total_tokens = float(tokens.sum())
    org_rate = total_points / total_tokens if total_tokens > 0 else 0.0
    org_efficiency = org_rate * TOKENS_PER_EFFICIENCY_UNIT if total_tokens > 0 else None
    prior = float(efficiency_min_tokens)
    eligible = (tokens >= prior) & (tokens + prior > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        eff = (points + prior * org_rate) / (tokens + prior) * TOKENS_PER_EFFICIENCY_UNIT
    eff = np.where(eligible, eff, np.nan)

    # "High usage, no outcomes".
    flag_threshold = _nearest_rank_percentile(tokens, flag_percentile)
    flagged = (tokens > 0) & (tokens >= flag_threshold) & (points == 0)

    # Rows are made on first use: a board of 100k people usually shows a few dozen.
    make = _RowMaker(users, raw, points, tokens, raw_rank, outcome_rank, move, eff, flagged)
    raw_rows = RowList(raw_order, make)
    outcome_rows = RowList(outcome_order, make)
    by_user_id = RowsByUser(users, make)

    # Nobody without outcomes is "most efficient" (shrunk toward the org rate, their
    # efficiency is small but not zero).
    eligible_by_user = by_user[(eligible & (points > 0))[by_user]]
    leader_order = eligible_by_user[np.argsort(-eff[eligible_by_user], kind="stable")]
    efficiency_leaders = [make(i) for i in leader_order[:top_n].tolist()]

    n_top = min(top_n, n)
    raw_top = set(raw_order[:n_top].tolist())
    outcome_top = set(outcome_order[:n_top].tolist())
    spearman, kendall = correlations(raw, points)
    agreement = Agreement(
        people=n,
        spearman=spearman,
        kendall=kendall,
        top_n=n_top,
        missing_from_outcome_top=len(raw_top - outcome_top),
    )

    return Board(
        raw=raw_rows,
        outcome=outcome_rows,
        by_user=by_user_id,
        agreement=agreement,
        efficiency_leaders=efficiency_leaders,
        flag_threshold=flag_threshold,
        org_efficiency=org_efficiency,
        flagged_count=int(flagged.sum()),
        people=n,
    )

