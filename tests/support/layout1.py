"""The older storage layout (1) written as its counting scripts wrote it, with plain Redis
commands, and what it adds up to, computed apart: for the migration's tests.

The older layout, as bot/store.py wrote it before the bucketed layout (commit 05f2ee9^
and 49f6187^1: USAGE_LUA, OUTCOME_LUA, `_ttls`, `_event_keys`):

    tb:{ws}:seen:<sender>:<date>   HSETNX id → fingerprint (12 hex digits, "-" for none),
                                   EXPIRE day ttl + 1 day
    tb:{ws}:seen:<sender>:<id>     (the versions before those: SET fingerprint NX EX
                                   retention + 1 day)
    tb:{ws}:day:<date>:<user>      HINCRBY field amount (cost: HINCRBYFLOAT), EXPIRE day ttl
    tb:{ws}:z:<metric>:<d|w|m|a>:<name>  ZINCRBY tokens, cost, requests (every scope, all
                                   three metrics); points: ZADD NX 0 for usage, ZINCRBY
                                   the points difference for an outcome (raw sets ZADD NX 0)
    tb:{ws}:iday:<date>:<identity> an unmapped identity's day (HINCRBY), with
                                   unmapped:tokens (ZINCRBY), idays:<identity> (SADD),
                                   unmapped:last (HSET)
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

import redis

from bot.core.config import BoardConfig, OutcomeRule
from bot.core.counts import Outcome, Usage
from bot.core.periods import buckets_for_day
from bot.sources.reports import fingerprint
from bot.store.events import ttls
from bot.store.store import Store

P = "tb:{default}"
TODAY = datetime.now(UTC).date()
DAYS = [TODAY - timedelta(days=n) for n in (1, 2, 5, 9, 20, 33)]  # weeks and months apart
PEOPLE = ["U0A", "U0B", "U0C", "U0D"]
SENDERS = ["laptops", "ci"]
IDENTITY = "email:ghost@example.com"


class OldLayout:
    """The older layout's writes, and what they add up to (computed here, apart)."""

    def __init__(self, r: redis.Redis, config: BoardConfig) -> None:
        self.r, self.config = r, config
        self.day = defaultdict(lambda: defaultdict(float))  # (date, user) -> field -> x
        self.boards = defaultdict(lambda: defaultdict(float))  # board key -> user -> x
        self.events: list[tuple[object, str, str]] = []  # (event, who, sender)

    def _ttl(self, day: date) -> int:
        return ttls(day, UTC, 400).day

    def _claim(self, sender: str, day: date, event_id: str, fp: str) -> None:
        key = f"{P}:seen:{sender}:{day.isoformat()}"
        assert self.r.hsetnx(key, event_id, fp)
        self.r.expire(key, self._ttl(day) + 86400)

    def _boards(self, day: date, metric: str) -> list[str]:
        return [f"{P}:z:{metric}:{b.scope}:{b.name}" for b in buckets_for_day(day)]

    def usage(self, sender: str, who: str, day: date, event_id: str, tokens: int,
              cost: float, requests: int) -> None:
        ts = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=12)
        fields = (("tokens", tokens), ("cost", cost), ("requests", requests),
                  ("input_tokens", tokens // 3))
        fp = fingerprint("usage", event_id, fields)
        self.events.append((Usage(id=event_id, ts=ts, fields=fields, fingerprint=fp), who,
                            sender))
        self._claim(sender, day, event_id, fp)
        if ":" in who:
            key = f"{P}:iday:{day.isoformat()}:{who}"
            for name, x in fields:
                (self.r.hincrbyfloat if name == "cost" else self.r.hincrby)(key, name, x)
            self.r.expire(key, self._ttl(day))
            self.r.zincrby(f"{P}:unmapped:tokens", tokens, who)
            self.r.sadd(f"{P}:idays:{who}", day.isoformat())
            self.r.hset(f"{P}:unmapped:last", who, time.time())
            return
        key = f"{P}:day:{day.isoformat()}:{who}"
        for name, x in fields:
            (self.r.hincrbyfloat if name == "cost" else self.r.hincrby)(key, name, x)
            self.day[(day, who)][name] += x
        self.r.expire(key, self._ttl(day))
        for metric, x in (("tokens", tokens), ("cost", cost), ("requests", requests)):
            for board in self._boards(day, metric):
                self.r.zincrby(board, x, who)
                self.boards[board][who] += x
        for board in self._boards(day, "points"):
            self.r.zadd(board, {who: 0}, nx=True)
            self.boards[board][who] += 0

    def outcome(self, sender: str, who: str, day: date, event_id: str, kind: str,
                modifiers: tuple[str, ...] = ()) -> None:
        ts = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=13)
        fp = fingerprint("outcome", event_id, kind, modifiers)
        self.events.append((Outcome(id=event_id, ts=ts, kind=kind, modifiers=modifiers,
                                    fingerprint=fp), who, sender))
        self._claim(sender, day, event_id, fp)
        name = f"o:{kind}" + ("~" + "+".join(sorted(modifiers)) if modifiers else "")
        key = f"{P}:day:{day.isoformat()}:{who}"
        before = self.points(self.day[(day, who)])
        self.r.hincrby(key, name, 1)
        self.r.expire(key, self._ttl(day))
        self.day[(day, who)][name] += 1
        gained = self.points(self.day[(day, who)]) - before
        for metric in ("tokens", "cost", "requests"):
            for board in self._boards(day, metric):
                self.r.zadd(board, {who: 0}, nx=True)
                self.boards[board][who] += 0
        for board in self._boards(day, "points"):
            self.r.zincrby(board, gained, who)
            self.boards[board][who] += gained

    def points(self, counts: dict[str, float]) -> float:
        """The outcome points of a day: weight × (F(kept) − F(reverted)) per kind."""
        mods = self.config.modifier_fractions()
        kept, back = defaultdict(float), defaultdict(float)
        for name, x in counts.items():
            if not name.startswith("o:"):
                continue
            kind, _, suffix = name[2:].partition("~")
            scale = math.prod(mods.get(m, 1.0) for m in suffix.split("+") if m and
                              m != "revert")
            (back if "revert" in suffix.split("+") else kept)[kind] += x * scale
        def f(x: float, rule: OutcomeRule) -> float:
            x = min(max(x, 0.0), rule.cap) if rule.cap else max(x, 0.0)
            return {"sqrt": math.sqrt, "log": math.log1p}.get(rule.transform, lambda v: v)(x)

        return sum(rule.weight * (f(kept[kind], rule) - f(back[kind], rule))
                   for kind, rule in self.config.outcomes.items()
                   if kind in kept or kind in back)


def fill(store: Store, config: BoardConfig) -> OldLayout:
    old = OldLayout(store.r, config)
    n = 0
    for d, day in enumerate(DAYS):
        for p, who in enumerate(PEOPLE):
            if (d + p) % 5 == 4:
                continue  # not everyone every day
            for sender in SENDERS:
                n += 1
                old.usage(sender, who, day, f"u{n}", 1000 * (p + 1) + n, 0.25 * (d + 1) + 0.01,
                          p + 2)
            n += 1
            old.outcome("ci", who, day, f"o{n}", "pr_merged", ("small",) if p == 1 else ())
            if p < 2:
                n += 1
                old.outcome("ci", who, day, f"o{n}", "review")
        n += 1
        old.usage("laptops", IDENTITY, day, f"u{n}", 700, 0.5, 1)
    return old


def day_counts(store: Store, day: date, user: str) -> dict[str, float]:
    return {k: v for k, v in store.reads.day_counts(day, user).items() if v}


def assert_everything_as_counted(store: Store, old: OldLayout, extra: dict | None = None
                                 ) -> None:
    extra = extra or {}
    for (day, who), counts in old.day.items():
        want = dict(counts)
        for name, x in extra.get((day, who), {}).items():
            want[name] = want.get(name, 0) + x
        got = day_counts(store, day, who)
        assert set(got) == {k for k, v in want.items() if v}, (day, who)
        for name, x in want.items():
            assert math.isclose(got.get(name, 0), x, rel_tol=1e-9, abs_tol=1e-9), (day, who, name)
    for board, scores in old.boards.items():
        got = {m.decode(): s for m, s in store.r.zrange(board, 0, -1, withscores=True)}
        assert set(got) == set(scores), board
        for who, x in scores.items():
            assert math.isclose(got[who], x + extra.get(board, {}).get(who, 0),
                                rel_tol=1e-9, abs_tol=1e-9), (board, who)


def layout1_keys(store: Store) -> list[str]:
    return [k for k in store.dump_keys() if k.startswith((f"{P}:day:", f"{P}:seen:"))]
