"""Moving an install's data from the older layout (one hash per person-day and per
sender-day of event ids) into the current one: every day and board exactly as counted,
old event ids still duplicates, a migration stopped half-way and run again counts nothing
twice, a second migration does nothing, a fresh install is stamped.

The older layout is written here with plain Redis commands, as its counting scripts wrote
it (bot/store.py before the bucketed layout, commit 05f2ee9^ and 49f6187^1: USAGE_LUA,
OUTCOME_LUA, `_ttls`, `_event_keys`):

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
from bot.store.counting import DUPLICATE
from bot.store.events import ttls
from bot.store.layout import LAYOUT_VERSION
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


def test_the_older_layout_migrates_with_every_count_and_id(store: Store) -> None:
    config = BoardConfig()
    old = fill(store, config)
    assert layout1_keys(store) and store.layout.state() == "older"
    dry = store.layout.count()
    assert dry.person_days == len(old.day)
    assert dry.sender_days == len({(s, e.ts.date()) for e, _, s in old.events})
    assert dry.ids == len(old.events)
    ttl_before = store.r.ttl(f"{P}:day:{DAYS[3].isoformat()}:U0A")

    done = store.layout.migrate()
    assert done.finished and done.person_days == len(old.day)
    assert done.ids == len(old.events)
    assert layout1_keys(store) == [] and store.layout.version() == LAYOUT_VERSION
    assert store.layout.state() == "current"
    assert_everything_as_counted(store, old)
    # the days keep their expiry
    bucket_ttls = [store.r.ttl(k) for k in store.dump_keys()
                   if k.startswith(f"{P}:days:{DAYS[3].isoformat()}")]
    assert bucket_ttls and all(abs(t - ttl_before) < 5 for t in bucket_ttls)

    # every event counted before the upgrade, retried now, is a duplicate
    for event, who, sender in old.events:
        assert store.counting.record([(event, who)], config, 0, sender) == [DUPLICATE], event

    # a rescore after the migration (every retained day rebuilt from the day counts)
    # gives the same boards
    version = store.configs.save(config)
    store.rescoring.rebuild_points(config, version=version)
    assert_everything_as_counted(store, old)

    # migrating again does nothing
    again = store.layout.migrate()
    assert again.finished and again.units == 0 and again.ids == 0
    assert_everything_as_counted(store, old)

    # the unmapped identity's kept days (the same keys in both layouts) credit as before
    tokens_before = store.r.zscore(f"{P}:z:tokens:a:all", "U0A")
    for day in DAYS:
        assert store.counting.credit_day(IDENTITY, "U0A", day, config, version) == 1
    assert store.r.zscore(f"{P}:z:tokens:a:all", "U0A") == tokens_before + 700 * len(DAYS)


def test_counts_made_after_the_upgrade_are_added_to_the_old_days(store: Store) -> None:
    config = BoardConfig()
    old = fill(store, config)
    day, who = DAYS[0], "U0A"
    ts = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=15)
    new = Usage(id="after-upgrade", ts=ts, fields=(("tokens", 5), ("cost", 0.5),
                                                   ("sessions", 1)))
    assert store.counting.record([(new, who)], config, 0, "laptops") == [1]
    store.layout.migrate()
    extra: dict = {(day, who): {"tokens": 5, "cost": 0.5, "sessions": 1}}
    for b in buckets_for_day(day):
        extra[f"{P}:z:tokens:{b.scope}:{b.name}"] = {who: 5}
    extra[f"{P}:z:cost:a:all"] = {who: 0.5}  # cost per day, week, month: only as the raw metric
    assert_everything_as_counted(store, old, extra)


def test_a_migration_stopped_half_way_finishes_on_the_next_run(store: Store) -> None:
    config = BoardConfig()
    old = fill(store, config)
    first = store.layout.migrate(stop_after=3)
    assert not first.finished and store.layout.state() == "older"
    assert store.r.exists(f"{P}:migrate") or first.units == 3
    second = store.layout.migrate(stop_after=7)
    assert not second.finished
    rest = store.layout.migrate()
    assert rest.finished and layout1_keys(store) == []
    assert first.person_days + second.person_days + rest.person_days == len(old.day)
    assert not store.r.exists(f"{P}:migrate") and not store.r.exists(f"{P}:migrate:lock")
    assert_everything_as_counted(store, old)
    for event, who, sender in old.events:
        assert store.counting.record([(event, who)], config, 0, sender) == [DUPLICATE]


def test_one_key_per_id_of_the_first_versions_stays_a_duplicate(store: Store) -> None:
    config = BoardConfig()
    ts = datetime.now(UTC) - timedelta(minutes=5)
    event = Usage(id="very-old", ts=ts, fields=(("tokens", 9),), fingerprint="abcdef012345")
    # SET seen:<sender>:<id> fingerprint NX EX retention + 1 day, at the time it was counted
    store.r.set(f"{P}:seen:laptops:very-old", "abcdef012345", nx=True, ex=401 * 86400)
    assert store.layout.state() == "older"
    done = store.layout.migrate()
    assert done.finished and done.id_keys == 1 and layout1_keys(store) == []
    assert store.counting.record([(event, "U0A")], config, 0, "laptops") == [DUPLICATE]


def test_a_fresh_install_is_stamped_and_has_nothing_to_migrate(store: Store) -> None:
    assert store.layout.version() is None
    assert store.layout.settle() == "fresh"
    assert store.layout.version() == LAYOUT_VERSION
    assert store.layout.state() == "current"
    assert store.layout.count().units == 0


def test_the_older_layouts_rescoring_lock_goes(store: Store) -> None:
    store.r.set(f"{P}:rebuild", "a-token", ex=300)  # layout 1: SET NX EX, a string
    fill(store, BoardConfig())
    assert store.layout.migrate().finished
    assert not store.r.exists(f"{P}:rebuild")
