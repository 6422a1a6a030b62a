"""Read side: a period's two boards, computed from the store and cached until it changes.

The cache key includes the store's generation counter, which every counted event bumps,
so a cached board is exactly what a fresh read would give; under steady ingest it simply
misses. A read is a handful of Redis round trips (config + generation, size, one
pipeline of ZRANGE pages) whatever the history length.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.config import BoardConfig
from bot.periods import Bucket, bucket_for_period, period_label, period_name, period_title
from bot.ranking import Board, rank_board
from bot.store import Store


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
                     viewer: str | None = None) -> PeriodBoard:
        """The board as `viewer` may see it: opted-out people are left out, except the
        viewer themself (everyone sees their own numbers)."""
        now = self.now()
        config = config or self.store.load_config()
        bucket = bucket_for_period(period, self.store.tz, now)
        board = self.board_for_bucket(bucket, config, self.hidden_from(viewer))
        return PeriodBoard(period=period, bucket=bucket,
                           title=period_title(period, self.store.tz, now),
                           label=period_label(period), config=config, board=board,
                           name=period_name(period, self.store.tz, now))

    def hidden_from(self, viewer: str | None) -> frozenset[str]:
        return self.store.opted_out() - {viewer}

    def board_for_bucket(self, bucket: Bucket, config: BoardConfig,
                         hidden: frozenset[str] = frozenset()) -> Board:
        generation = self.store.generation()
        key = (generation, bucket, config.model_dump_json(), hidden)
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            return cached
        people = self.store.period_totals(bucket, config.raw_metric).without(hidden)
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
