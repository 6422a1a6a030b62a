"""The KEYS and ARGV of the counting scripts (`lua/usage.lua`, `lua/outcome.lua`,
`lua/credit.lua`; their common layout is `lua/common/event.lua`'s), one builder per
script, and the expiries and boards of a day. `bot.store.counting` runs them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.core.config import BoardConfig
from bot.core.periods import buckets_for_day
from bot.store.keys import Keys
from bot.store.lua import Call, Script

METRICS = ("tokens", "cost", "requests", "points")
RAW_METRICS = ("cost", "requests")  # kept per day, week and month only as the raw metric
SERIES_TTL = 35 * 86400  # a cumulative series silent this long starts afresh

USAGE = Script("usage")
OUTCOME = Script("outcome")
CREDIT = Script("credit")


@dataclass(frozen=True)
class Ttls:
    """Seconds until the day's event ids, the day's counts and its day, week and month
    boards pass retention."""

    ids: int
    day: int
    d: int
    w: int
    m: int


def ttls(day: date, tz: ZoneInfo, retention_days: int) -> Ttls:
    keep = timedelta(days=retention_days)
    week_end = day + timedelta(days=7 - day.isoweekday())
    next_month = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    now = datetime.now(tz)

    def until(last_day: date) -> int:
        end = datetime.combine(last_day + timedelta(days=1), time(), tz) + keep
        return max(int((end - now).total_seconds()), 60)

    day_ttl = until(day)
    return Ttls(ids=day_ttl + 86400, day=day_ttl, d=day_ttl, w=until(week_end),
                m=until(next_month - timedelta(days=1)))


def board_keys(keys: Keys, day: date, raw_metric: str) -> list[str]:
    """The 16 boards of `day` (tokens, cost, requests, points × d/w/m/a); the placeholder
    `none` for the cost and requests sets of a day, week and month unless that is the raw
    metric."""
    buckets = buckets_for_day(day)
    return [keys.board(metric, b) if metric not in RAW_METRICS or metric == raw_metric
            or b.scope == "a" else keys.none() for metric in METRICS for b in buckets]


def scoring_rules(config: BoardConfig, kind: str | None = None) -> str:
    """[RULES, MODS] as the Lua scoring function takes them (all kinds, or one)."""
    rules = {k: [r.weight, r.cap or 0, r.transform] for k, r in config.outcomes.items()
             if kind is None or k == kind}
    return json.dumps([rules, config.modifier_fractions()])


@dataclass(frozen=True)
class EventKeys:
    """KEYS 1-25 of the counting scripts."""

    ids: str            # 1 the sender's day directory of event ids (credit: identity's day)
    day: str            # 2 the day's directory of counts (unmapped: the identity's day)
    boards: list[str]   # 3-18 tokens, cost, requests, points × d/w/m/a
    gen: str            # 19
    rebuild: str        # 20
    version: str        # 21
    none: str           # 22
    unmapped: str       # 23 unmapped totals
    identity_days: str  # 24
    unmapped_last: str  # 25

    def as_list(self) -> list[str]:
        return [self.ids, self.day, *self.boards, self.gen, self.rebuild, self.version,
                self.none, self.unmapped, self.identity_days, self.unmapped_last]


def event_keys(keys: Keys, day: date, who: str, ids: str, raw_metric: str,
               unmapped_metric: str) -> EventKeys:
    """The keys of an event of `who` on `day` whose id is claimed in `ids`: a person's
    day and boards, or for an identity (`source:value`) that maps to nobody its own day
    and the `unmapped_metric` totals ("tokens" or "outcomes")."""
    common = {"gen": keys.key("gen"), "rebuild": keys.rebuild(),
              "version": keys.key("config", "version"), "none": keys.none()}
    if ":" in who:
        return EventKeys(ids=ids, day=keys.identity_day(day, who), boards=[keys.none()] * 16,
                         unmapped=keys.unmapped(unmapped_metric),
                         identity_days=keys.identity_days(who),
                         unmapped_last=keys.unmapped("last"), **common)
    placeholder = keys.key("unmapped", "none")
    return EventKeys(ids=ids, day=keys.days(day), boards=board_keys(keys, day, raw_metric),
                     unmapped=placeholder, identity_days=placeholder,
                     unmapped_last=placeholder, **common)


@dataclass(frozen=True)
class EventArgs:
    """ARGV 1-11 of the counting scripts."""

    member: str         # 1 Slack user, or the identity when unmapped
    ttls: Ttls          # 2 event-id ttl, 3 day ttl, 4-6 ttl d/w/m
    version: int        # 7 the configuration version the caller scored with
    fingerprint: bytes | str  # 8 the content fingerprint ("-": none)
    mapped: bool        # 9
    day: date           # 10
    now: float          # 11 epoch s

    def as_list(self, id_ttl: int | None = None) -> list:
        t = self.ttls
        return [self.member, t.ids if id_ttl is None else id_ttl, t.day, t.d, t.w, t.m,
                self.version, self.fingerprint, "1" if self.mapped else "0",
                self.day.isoformat(), self.now]


@dataclass(frozen=True)
class UsagePart:
    """One usage report of a usage call: its marker key (KEYS[26 + p]) and its ARGV."""

    marker: str
    kind: str            # 'd' one-off or delta, 'c' cumulative series, 'r' vendor's daily row
    fingerprint: bytes | str
    value: float
    start: bytes | str   # a series' start (20 digits), else the event id's 8-byte digest
    time: str            # the point's time (20 digits)
    fields: Sequence[tuple[str, float]]


def usage_call(*, keys: EventKeys, head: EventArgs, parts: Sequence[UsagePart],
               tools: str, series_ttl: int = SERIES_TTL) -> Call:
    """lua/usage.lua: several usage reports of one person (or identity) and day; `tools`
    is the org's per-tool totals of that day (KEYS[26])."""
    args = [*head.as_list(), series_ttl, len(parts)]
    for part in parts:
        args += [part.kind, part.fingerprint, repr(float(part.value)), part.start, part.time,
                 len(part.fields)]
        for name, amount in part.fields:
            args += [name, repr(float(amount))]
    return Call(keys.as_list() + [tools] + [part.marker for part in parts], args)


def outcome_call(*, keys: EventKeys, head: EventArgs, field: str, count: int, kind: str,
                 rules: str, digest: bytes) -> Call:
    """lua/outcome.lua: one outcome; `field` is the day's o:<kind>[~<modifiers>], `rules`
    the JSON [RULES, MODS] of `kind`, `digest` the event id's."""
    return Call(keys.as_list(), [*head.as_list(), field, int(count), kind, rules, digest])


def credit_call(*, keys: EventKeys, head: EventArgs, rules: str) -> Call:
    """lua/credit.lua: an unmapped identity's day (keys.ids) credited to head.member."""
    return Call(keys.as_list(), [*head.as_list(id_ttl=0), rules])
