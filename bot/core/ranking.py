"""Rank people on the raw board and the outcome board, and measure how far they disagree.

This module is deliberately pure: it takes per-person totals that the store has
already aggregated and returns plain frozen dataclasses. No Redis, no Slack, no
clock, no I/O, so every number the bot posts can be reproduced in a unit test.

Why two boards: a leaderboard of raw token usage rewards spending, not shipping.
tokenboard always puts the outcome-weighted ranking next to the raw one and says,
in one sentence, how much they agree (Spearman's rho and Kendall's tau-b), so a
reader can see at a glance whether "uses the most AI" means "delivers the most".

Performance: the ranking, correlation, efficiency and flag maths are vectorised
with numpy/scipy; the only per-person Python work is reading the inputs and
building one ``Row`` (a NamedTuple) each.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy import stats

__all__ = [
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


@dataclass(frozen=True, slots=True)
class PersonTotals:
    """One person's aggregated totals for the period, as produced by the store."""

    user: str
    """Slack user id."""
    raw: float
    """The raw board metric for the period (tokens by default; may be cost or requests)."""
    points: float
    """Outcome points for the period (already weighted/capped by the store)."""
    tokens: float
    """Tokens for the period; used for efficiency and the "high usage, no outcomes" flag."""


@dataclass(frozen=True)
class Totals:
    """Per-person totals as columns: what the store reads and what ranking computes on.

    Iterating yields PersonTotals, for code that wants one person at a time.
    """

    users: list[str]
    raw: np.ndarray
    points: np.ndarray
    tokens: np.ndarray

    @classmethod
    def of(cls, people: Iterable[PersonTotals]) -> Totals:
        everyone = list(people)
        return cls(users=[p.user for p in everyone],
                   raw=np.array([p.raw for p in everyone], dtype=np.float64),
                   points=np.array([p.points for p in everyone], dtype=np.float64),
                   tokens=np.array([p.tokens for p in everyone], dtype=np.float64))

    def __len__(self) -> int:
        return len(self.users)

    def __iter__(self) -> Iterator[PersonTotals]:
        for user, raw, points, tokens in zip(self.users, self.raw.tolist(),
                                             self.points.tolist(), self.tokens.tolist(),
                                             strict=True):
            yield PersonTotals(user=user, raw=raw, points=points, tokens=tokens)

    def where(self, keep: np.ndarray) -> Totals:
        return Totals(users=[u for u, k in zip(self.users, keep.tolist(), strict=True) if k],
                      raw=self.raw[keep], points=self.points[keep], tokens=self.tokens[keep])

    def without(self, hidden: Collection[str]) -> Totals:
        """Everyone except the `hidden` user ids (e.g. people who opted out)."""
        if not hidden:
            return self
        return self.where(np.array([u not in hidden for u in self.users], dtype=bool))

    def minus(self, other: Totals) -> Totals:
        """These totals less `other`'s, person by person (people only in `other` ignored)."""
        if not len(other) or not len(self):
            return self
        mine = np.array(self.users)
        order = np.argsort(mine)
        theirs = np.array(other.users)
        pos = order[np.minimum(np.searchsorted(mine, theirs, sorter=order), len(mine) - 1)]
        found = mine[pos] == theirs
        pos, found_idx = pos[found], np.nonzero(found)[0]
        raw, points, tokens = self.raw.copy(), self.points.copy(), self.tokens.copy()
        raw[pos] -= other.raw[found_idx]
        points[pos] -= other.points[found_idx]
        tokens[pos] -= other.tokens[found_idx]
        for column in (raw, points, tokens):  # float residue of a - a is not activity
            column[np.abs(column) < 1e-9] = 0.0
        return Totals(users=self.users, raw=raw, points=points, tokens=tokens)


def spearman(totals: Totals) -> float | None:
    """Spearman ρ between the two boards over the active people (None when undefined);
    for context figures that need no rows (the day before, the week to date)."""
    active = (np.abs(totals.raw) > 1e-9) | (np.abs(totals.points) > 1e-9) | (
        np.abs(totals.tokens) > 1e-9)
    raw, points = totals.raw[active], totals.points[active]
    if raw.size < 2 or np.ptp(raw) == 0 or np.ptp(points) == 0:
        return None
    return _finite_or_none(stats.spearmanr(raw, points).statistic)


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


@dataclass(frozen=True, slots=True)
class Agreement:
    """How well the raw board and the outcome board agree over the active people."""

    people: int
    """Number of active people compared."""
    spearman: float | None
    """Spearman rho on (raw, points), average ranks for ties; None when undefined."""
    kendall: float | None
    """Kendall tau-b on (raw, points), tie-corrected; None when undefined."""
    top_n: int
    """The N actually used for the top-N comparison: min(requested N, people)."""
    missing_from_outcome_top: int
    """How many of the raw top N are not in the outcome top N."""


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

    def __getitem__(self, i):  # type: ignore[override]
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
    """People with an efficiency, sorted by efficiency desc then user id, at most top_n."""
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


def _finite_or_none(value: float) -> float | None:
    """scipy signals "undefined" with NaN; the rest of the bot expects None."""
    value = float(value)
    return None if math.isnan(value) else value


def _correlations(raw: np.ndarray, points: np.ndarray) -> tuple[float | None, float | None]:
    """Spearman rho and Kendall tau-b, or None where they are mathematically undefined.

    Both are undefined with fewer than two people or when either side is constant
    (e.g. nobody has any points yet). We check that up front instead of letting scipy
    emit a ConstantInputWarning and NaN.
    """
    if raw.size < 2 or np.ptp(raw) == 0 or np.ptp(points) == 0:
        return None, None
    rho = stats.spearmanr(raw, points).statistic
    tau = stats.kendalltau(raw, points).statistic  # variant="b" is scipy's default
    return _finite_or_none(rho), _finite_or_none(tau)


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

    eligible_by_user = by_user[eligible[by_user]]
    leader_order = eligible_by_user[np.argsort(-eff[eligible_by_user], kind="stable")]
    efficiency_leaders = [make(i) for i in leader_order[:top_n].tolist()]

    n_top = min(top_n, n)
    raw_top = set(raw_order[:n_top].tolist())
    outcome_top = set(outcome_order[:n_top].tolist())
    spearman, kendall = _correlations(raw, points)
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


def agreement_strength(rho: float | None) -> str:
    """Describe |rho| in words, so the digest reads as a sentence rather than a statistic.

    None -> "no measurable"; |rho| < 0.2 "barely", < 0.4 "weakly", < 0.6 "moderately",
    < 0.8 "strongly", otherwise "very strongly". The sign is handled by the caller
    ("agreed" vs "disagreed").
    """
    if rho is None or math.isnan(rho):
        return "no measurable"
    r = abs(rho)
    if r < 0.2:
        return "barely"
    if r < 0.4:
        return "weakly"
    if r < 0.6:
        return "moderately"
    if r < 0.8:
        return "strongly"
    return "very strongly"


def _fmt(value: float) -> str:
    """Two decimals, without a confusing "-0.00"."""
    text = f"{value:.2f}"
    return "0.00" if text == "-0.00" else text


def agreement_sentence(a: Agreement, period_label: str) -> str:
    """One plain sentence for the digest, e.g.

    "Raw usage and outcomes agreed weakly this week: ρ = 0.31 (Kendall τ = 0.22) over
    54 people; 4 of the raw top 10 are not in the outcome top 10."

    Negative rho reads "disagreed". With fewer than two people or an undefined rho the
    sentence says there is not enough activity, rather than printing a meaningless number.
    ``period_label`` ("today", "this week", ...) is inserted verbatim.
    """
    if a.people < 2 or a.spearman is None or math.isnan(a.spearman):
        return f"Not enough activity {period_label} to compare the two boards."
    verb = "disagreed" if a.spearman < 0 else "agreed"
    kendall = "n/a" if a.kendall is None or math.isnan(a.kendall) else _fmt(a.kendall)
    sentence = (
        f"Raw usage and outcomes {verb} {agreement_strength(a.spearman)} {period_label}: "
        f"ρ = {_fmt(a.spearman)} (Kendall τ = {kendall}) over {a.people} people"
    )
    if a.top_n > 0:
        be = "is" if a.missing_from_outcome_top == 1 else "are"
        sentence += (
            f"; {a.missing_from_outcome_top} of the raw top {a.top_n} {be} not in the "
            f"outcome top {a.top_n}"
        )
    return sentence + "."


MIN_TO_COMPARE = 5
"""Below this many active people the boards are not compared: a ρ of -1.00 over three
people says nothing."""


PENDING = ("ρ and τ over everyone are being computed for this period; they appear here "
           "within a minute.")


def agreement_summary(a: Agreement, when: str, age: float | None = None,
                      pending: bool = False) -> tuple[str, str | None]:
    """Words first, statistics second: a plain sentence, then the ρ/τ line (None when
    there is nothing meaningful to quote).

    ``when`` is inserted verbatim ("today", "in the week of 23 Nov"). The sentence rests
    on the top-N overlap when the boards are longer than N ("Usage and outcomes mostly
    disagree in the week of 23 Nov: 7 of the 10 heaviest users are not in the outcome top
    10."), and on ρ when everyone is on both top lists.

    ``age``: seconds since ρ and τ were computed, when the data changed since (said in
    the statistics line); ``pending``: they are not computed yet (a large org's first
    read), so only the top-N overlap can be put in words.
    """
    n = a.people
    if n < MIN_TO_COMPARE:
        return f"Too few people to compare the two boards yet ({n} active).", None
    if pending:
        if not 0 < a.top_n < n:
            return f"Usage and outcomes {when}: {PENDING}", None
        a = Agreement(people=n, spearman=0.0, kendall=None, top_n=a.top_n,
                      missing_from_outcome_top=a.missing_from_outcome_top)
        return agreement_summary(a, when)[0], PENDING
    if a.spearman is None or math.isnan(a.spearman):
        return (f"The two boards cannot be compared {when}: everyone ties on one of them "
                f"(usually: no outcomes reported yet; {n} active).", None)
    top, missing = a.top_n, a.missing_from_outcome_top
    if 0 < top < n:
        kept = top - missing
        if missing == 0:
            words = (f"agree {when}: the {top} heaviest users are also the outcome "
                     f"top {top}")
        elif missing == top:
            words = (f"disagree {when}: none of the {top} heaviest users is in the "
                     f"outcome top {top}")
        elif 2 * missing < top:
            be = "is" if kept == 1 else "are"
            words = (f"mostly agree {when}: {kept} of the {top} heaviest users {be} also "
                     f"in the outcome top {top}")
        else:
            be = "is" if missing == 1 else "are"
            verb = "only half agree" if 2 * missing == top else "mostly disagree"
            words = (f"{verb} {when}: {missing} of the {top} heaviest users {be} not in "
                     f"the outcome top {top}")
    else:
        rho = a.spearman
        verb = ("agree" if rho >= 0.6 else "mostly agree" if rho >= 0.2
                else "barely relate" if rho > -0.2 else "mostly disagree" if rho > -0.6
                else "disagree")
        words = f"{verb} {when} across all {n} people"
    kendall = "n/a" if a.kendall is None or math.isnan(a.kendall) else _fmt(a.kendall)
    stats_line = (f"Spearman ρ = {_fmt(a.spearman)}, Kendall τ = {kendall} over {n} people "
                  "(1 = same order, 0 = unrelated, −1 = reversed)")
    if age is not None:
        stats_line += f", computed {_ago(age)} ago from everyone's numbers"
    return f"Usage and outcomes {words}.", stats_line + "."


def _ago(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    return f"{round(seconds / 3600)} h"
