"""The KEYS and ARGV of the counting scripts (`lua/record.lua`, a batch of usage reports
and outcomes; `lua/credit.lua`; what they share is `lua/common/event.lua`), one builder
per script, and the expiries and boards of a day. `bot.store.counting` runs them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import NamedTuple
from zoneinfo import ZoneInfo

from bot.core.config import BoardConfig
from bot.core.periods import buckets_for_day
from bot.store.keys import Keys
from bot.store.lua import Call, Script

METRICS = ("tokens", "cost", "requests", "points")
RAW_METRICS = ("cost", "requests")  # kept per day, week and month only as the raw metric
SERIES_TTL = 35 * 86400  # a cumulative series silent this long starts afresh

RECORD = Script("record")
_ITEMS = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))  # record.lua's A
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
    now = datetime.now(tz)
    # Each expiry is a whole number of seconds until a whole second: the same for every
    # instant of one second but its very start, so it is worked out once per second.
    return _ttls(day, tz, retention_days, now.replace(microsecond=0), now.microsecond > 0)


@lru_cache(maxsize=64)
def _ttls(day: date, tz: ZoneInfo, retention_days: int, second: datetime,
          later: bool) -> Ttls:
    keep = timedelta(days=retention_days)
    week_end = day + timedelta(days=7 - day.isoweekday())
    next_month = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    now = second + timedelta(microseconds=1) if later else second

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


def scoring_rules(config: BoardConfig) -> str:
    """[RULES, MODS] as the Lua scoring function takes them."""
    rules = {k: [r.weight, r.cap or 0, r.transform] for k, r in config.outcomes.items()}
    return json.dumps([rules, config.modifier_fractions()])


class UsagePart(NamedTuple):
    """One usage report of a usage group: its marker key (None: an event id, claimed in
    the sender's ids of the day) and what it adds."""

    marker: str | None
    kind: str            # 'd' one-off or delta, 'c' cumulative series, 'r' vendor's daily row
    fingerprint: bytes | str
    value: float
    start: bytes | str   # a series' start (20 digits), else the event id's 8-byte digest
    time: str            # the point's time (20 digits)
    fields: Sequence[tuple[str, float]]


@dataclass(frozen=True)
class DayKeys:
    """The keys of one day of a record call, as the bytes sent: the sender's event ids,
    the day's counts, its 16 boards and the org's per-tool totals of the day (the same
    for every batch of that sender, day and raw metric, so encoded once)."""

    keys: tuple[bytes, ...]


def day_keys(keys: Keys, sender: str, day: date, raw_metric: str) -> DayKeys:
    return DayKeys(tuple(k.encode() for k in (keys.ids(sender, day), keys.days(day),
                                              *board_keys(keys, day, raw_metric),
                                              keys.tool_totals(day))))


def _counting_keys(keys: Keys) -> list[str]:
    """What both counting scripts name after their own keys: gen, the rebuild state, the
    configuration version, `none` (record.lua's KEYS 1-4, credit.lua's 19-22)."""
    return [keys.key("gen"), keys.rebuild(), keys.key("config", "version"), keys.none()]


@lru_cache(maxsize=64)
def _head_keys(workspace: str) -> tuple[bytes, ...]:
    """record.lua's KEYS 1-7 in `workspace`, as the bytes sent (encoded once)."""
    keys = Keys(workspace)
    return tuple(k.encode() for k in (
        *_counting_keys(keys), keys.unmapped("tokens"), keys.unmapped("outcomes"),
        keys.unmapped("last")))


class RecordCall:
    """lua/record.lua's KEYS and ARGV, built up one event at a time: each day's keys and
    expiries once, the scoring rules once, each event's own arguments: its text and
    numbers in one JSON array (one argument for the whole call: packing a thousand
    arguments was most of the call's Python cost), its binary digests after it, two per
    event. Amounts go as JSON numbers (a float written by `repr`, as before), so Lua reads
    the same doubles.

    `guards`: (key, value) pairs the script checks before counting anything (a missing
    key holds "0"): the versions the caller's caches were read at."""

    def __init__(self, keys: Keys, version: int, now: float, rules: str,
                 guards: Sequence[tuple[str, str]] = (), series_ttl: int = SERIES_TTL
                 ) -> None:
        self.head: list[str | bytes] = [*_head_keys(keys.ws), *(k for k, _ in guards)]
        self.args_head = [version, now, series_ttl, len(guards)]
        self.rules, self.outcomes = rules, 0
        self.guard_values = [v for _, v in guards]
        self.day_keys: list[bytes] = []
        self.day_args: list = []
        self.days: dict[date, int] = {}
        self.extra: list[str] = []
        self.items: list = []  # text and numbers: one JSON argument
        self.binary: list[bytes | str] = []  # fingerprints, digests, series starts
        self.events = 0  # usage parts and outcomes so far (one status each)
        self.groups = 0  # usage groups and outcomes so far

    def day(self, day: date, keys: DayKeys, ttls: Ttls) -> int:
        """The call's index of `day` (its keys and expiries added the first time)."""
        at = self.days.get(day)
        if at is None:
            self.days[day] = at = len(self.days) + 1
            self.day_keys += keys.keys
            self.day_args += [day.isoformat(), ttls.ids, ttls.day, ttls.d, ttls.w, ttls.m]
        return at

    def _key(self, key: str | None) -> int:
        if key is None:
            return 0
        self.extra.append(key)
        return len(self.extra)

    def _who(self, day_at: int, member: str, kept: tuple[str, str] | None) -> list:
        """`kept`: (the identity's day, its days) when `member` is an identity that maps
        to nobody."""
        if kept is None:
            return [day_at, member, "1", 0, 0]
        return [day_at, member, "0", self._key(kept[0]), self._key(kept[1])]

    def usage(self, day_at: int, member: str, kept: tuple[str, str] | None,
              parts: Sequence[UsagePart]) -> None:
        """Usage reports of one person (or identity) and day."""
        args = ["u", *self._who(day_at, member, kept), len(parts)]
        binary = self.binary
        for part in parts:
            args += [self._key(part.marker), part.kind, repr(float(part.value)), part.time,
                     len(part.fields)]
            for name, amount in part.fields:
                # an int as it is (JSON writes it faster than a float; Lua reads the same
                # double), anything else as a float
                args += [name, amount if type(amount) is int else float(amount)]
            binary += [part.fingerprint, part.start]
        self.items += args
        self.events += len(parts)
        self.groups += 1

    def outcome(self, day_at: int, member: str, kept: tuple[str, str] | None,
                fingerprint: bytes | str, field: str, count: int, kind: str,
                digest: bytes) -> None:
        """One outcome; `field` is the day's o:<kind>[~<modifiers>]."""
        self.items += ["o", *self._who(day_at, member, kept), field, int(count), kind]
        self.binary += [fingerprint, digest]
        self.outcomes += 1
        self.events += 1
        self.groups += 1

    def add_guard(self, key: str, value: str) -> None:
        """One more guard (see the class), checked like those given at construction."""
        self.head.append(key)
        self.guard_values.append(value)
        self.args_head[3] += 1

    def call(self) -> Call:
        return Call([*self.head, *self.day_keys, *self.extra],
                    [*self.args_head, len(self.days), self.rules if self.outcomes else "",
                     *self.guard_values,
                     *self.day_args, self.groups,
                     _ITEMS.encode(self.items).encode(), *self.binary])


def credit_call(keys: Keys, *, identity_day: str, member: str, day: date, raw_metric: str,
                ttls: Ttls, version: int, rules: str) -> Call:
    """lua/credit.lua: an unmapped identity's day (its hash `identity_day`) credited to
    `member`, a person, whose points are scored with `rules` of configuration `version`."""
    return Call([identity_day, keys.days(day), *board_keys(keys, day, raw_metric),
                 *_counting_keys(keys)],
                [member, version, day.isoformat(), ttls.day, ttls.d, ttls.w, ttls.m, rules])
