"""Read side: a period's two boards.

Requests (`/leaderboard`, App Home) read the top of each board and the viewer's line with
one script whose cost does not grow with the org (`bot.boards.read`); the figures only the
whole population gives (ρ, τ, flag threshold, efficiency) come stored per period
(`bot.core.population`), refreshed in the background for the periods people read (and on the
spot for an org of at most INLINE_PEOPLE people, where that costs a few milliseconds).

The digest and the CLI rank everyone (`full_board`): computed from the store and cached
until it changes. The cache key includes the store's generation counter, which every
counted event bumps, so a cached board is exactly what a fresh read would give.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from bot.boards.read import read_top
from bot.core.agreement import Agreement
from bot.core.config import BoardConfig
from bot.core.periods import Bucket, bucket_for_period, period_label, period_name, period_title
from bot.core.population import Population, population_of, signature
from bot.core.ranking import Board, Row, rank_board
from bot.store.store import Store

log = logging.getLogger(__name__)
INLINE_PEOPLE = 2000  # up to this many people, a read refreshes stale figures itself
REFRESH_EVERY = 30  # seconds between background refreshes of the periods people read
WANTED_FOR = 15 * 60  # a period read this long ago is no longer refreshed
POPULATION_TTL = 2 * 86400


def ranked_on_request(people: int) -> bool:
    """Whether an org this size is small enough for a request to rank everyone (and draw
    the chart) itself when the stored figures are out of date."""
    return people <= INLINE_PEOPLE


@dataclass(frozen=True)
class PeriodBoard:
    period: str
    bucket: Bucket
    title: str  # "This week (2026-W48, to Tue 24 Nov)"
    label: str  # "this week"
    config: BoardConfig
    board: Board
    name: str = ""  # "week of 23 Nov", "November 2026", "today", "all time"


class Leaderboards:
    def __init__(self, store: Store, now: Callable[[], datetime] | None = None,
                 cache_size: int = 8) -> None:
        self.store = store
        self.now = now or (lambda: datetime.now(UTC))
        self._cache: dict[tuple, Board] = {}
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def period_board(self, period: str, config: BoardConfig | None = None,
                     viewer: str | None = None, top_n: int | None = None,
                     remember: bool = True) -> PeriodBoard:
        """The top `top_n` (default: the board size) of both boards as `viewer` may see
        them, and the viewer's own line: opted-out people are left out, except the viewer
        themself (everyone sees their own numbers). `remember`: a person is reading it, so
        the background keeps its figures fresh (the background's own reads do not)."""
        now = self.now()
        config = config or self.store.configs.load()
        bucket = bucket_for_period(period, self.store.tz, now)
        board = self.top_board(bucket, config, viewer, top_n,
                               period=period if remember else None)
        return self._period(period, bucket, config, board, now)

    def full_board(self, period: str, config: BoardConfig | None = None,
                   viewer: str | None = None) -> PeriodBoard:
        """Everyone on both boards (the CLI and the digest): costs O(people)."""
        now = self.now()
        config = config or self.store.configs.load()
        bucket = bucket_for_period(period, self.store.tz, now)
        board = self.board_for_bucket(bucket, config, self.hidden_from(viewer))
        return self._period(period, bucket, config, board, now)

    def _period(self, period: str, bucket: Bucket, config: BoardConfig, board: Board,
                now: datetime) -> PeriodBoard:
        return PeriodBoard(period=period, bucket=bucket,
                           title=period_title(period, self.store.tz, now),
                           label=period_label(period), config=config, board=board,
                           name=period_name(period, self.store.tz, now))

    def top_board(self, bucket: Bucket, config: BoardConfig, viewer: str | None,
                  top_n: int | None = None, period: str | None = "") -> Board:
        """The top of both boards of `bucket` and the viewer's line (see period_board);
        remembers that `period` (its bucket) is being read, for the background refresh,
        unless `period` is None."""
        now = self.now().timestamp()
        wanted = "" if period is None else f"{period}|{bucket.suffix}"
        read = read_top(self.store, bucket, config, viewer, top_n, now=now,
                        wanted=wanted)
        board = read.board
        if board.people and ranked_on_request(board.people) and (
                board.figures_missing or board.figures_age is not None):
            # A small org: rank everyone now, and put the new figures on the rows already
            # read (the board script runs once per request).
            population = self.refresh_population(bucket, config)
            board = with_figures(board, population, config, read.generation, now, top_n)
        return board

    # -- whole-population figures ------------------------------------------------------
    def refresh_population(self, bucket: Bucket, config: BoardConfig) -> Population:
        """Rank everyone of `bucket` and store the figures only that gives. The
        generation is read first, so figures are never labelled newer than their data."""
        generation = self.store.reads.generation()
        board = self.board_for_bucket(bucket, config, self.store.privacy.opted_out())
        population = population_of(board, config, generation, self.now().timestamp())
        self.store.figures.put(bucket, population.to_json(), POPULATION_TTL)
        return population

    def refresh_wanted(self, config: BoardConfig | None = None,
                       owner: str = "") -> list[tuple[str, Bucket]]:
        """Refresh the figures of every period read in the last WANTED_FOR seconds whose
        data or configuration changed since; one process at a time per period (a claim
        that expires). Returns the (period, bucket) pairs refreshed."""
        config = config or self.store.configs.load()
        now = self.now().timestamp()
        read = self.store.figures.read_since(now - WANTED_FOR)
        generation = self.store.reads.generation()
        done = []
        for member in read:
            period, _, suffix = member.rpartition("|")
            scope, _, name = suffix.partition(":")
            bucket = Bucket(scope, name)
            stored = self.store.figures.get(bucket)
            current = Population.from_json(stored) if stored else None
            if current is not None and current.generation == generation \
                    and current.signature == signature(config):
                continue
            if not self.store.figures.claim_refresh(bucket, owner, REFRESH_EVERY - 5):
                continue
            try:
                self.refresh_population(bucket, config)
                done.append((period, bucket))
            except Exception:  # one period's failure must not stop the others
                log.exception("refreshing the figures of %s failed", bucket.suffix)
        return done

    def hidden_from(self, viewer: str | None) -> frozenset[str]:
        return self.store.privacy.opted_out() - {viewer}

    def board_for_bucket(self, bucket: Bucket, config: BoardConfig,
                         hidden: frozenset[str] = frozenset()) -> Board:
        generation = self.store.reads.generation()
        key = (generation, bucket, config.model_dump_json(), hidden)
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            return cached
        people = self.store.reads.period_totals(bucket, config.raw_metric).without(hidden)
        board = rank_board(people, top_n=config.board_size,
                           efficiency_min_tokens=config.efficiency_min_tokens)
        with self._lock:
            # Boards of an older generation can never be served again: drop them, so a
            # 100k-person org keeps a few boards in memory, not a pile of stale ones.
            for old in [k for k in self._cache if k[0] != generation]:
                del self._cache[old]
            if len(self._cache) >= self._cache_size:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = board
        return board


def with_figures(board: Board, population: Population, config: BoardConfig,
                 generation: int, now: float, top_n: int | None = None) -> Board:
    """`board` as the board script read it (at `generation`), with the whole-population
    figures of `population` in place of the stored ones it was read with: each row's
    efficiency and flag, ρ and τ, the flag threshold, the org's efficiency and the flagged
    count, as `bot.boards.read.read_top` puts them on a board. The efficiency leaders are
    those among the rows read, at most `top_n` (default: the board size): the views of a
    request show none (`full_board` has them all). `figures_age`: None when the figures
    were computed at the generation read, else their age at `now`."""
    n = config.board_size if top_n is None else top_n

    def refigured(row: Row) -> Row:
        return row._replace(
            efficiency=population.efficiency(row.points, row.tokens,
                                             config.efficiency_min_tokens),
            flagged=bool(population.flags(row.points, row.tokens)))

    read = {row.user: row for row in [*board.by_user.values(), *board.efficiency_leaders]}
    rows = {user: refigured(row) for user, row in read.items()}
    a = board.agreement
    return replace(
        board,
        raw=[rows[r.user] for r in board.raw],
        outcome=[rows[r.user] for r in board.outcome],
        by_user={user: rows[user] for user in board.by_user},
        agreement=Agreement(people=a.people, spearman=population.spearman,
                            kendall=population.kendall, top_n=a.top_n,
                            missing_from_outcome_top=a.missing_from_outcome_top),
        efficiency_leaders=[rows[user] for user, _ in population.efficiency_leaders
                            if user in rows][:n],
        flag_threshold=population.flag_threshold,
        org_efficiency=population.org_rate * 1e6 if population.org_rate is not None
        else None,
        flagged_count=population.flagged_count,
        figures_age=None if population.generation == generation
        else max(0.0, now - population.computed_at),
        figures_missing=False)
