"""Counting: the events of the counting model (`bot.core.counts` Usage and Outcome) into
people's days and the period boards, exactly once per event id; crediting an unmapped
identity's kept days to the person it was linked to.

Both boards of a bucket hold the same members: the first usage event of a person's day
adds them to the points sets with 0 and the first outcome to the raw sets with 0, so rank
arithmetic on either board covers everyone active.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from zoneinfo import ZoneInfo

import redis

from bot.core.config import BoardConfig
from bot.core.counts import Outcome, Usage, id_digest
from bot.core.periods import local_date
from bot.store.events import (
    CREDIT,
    RECORD,
    DayKeys,
    RecordCall,
    Ttls,
    UsagePart,
    credit_call,
    day_keys,
    scoring_rules,
    ttls,
)
from bot.store.lua import Call, Script, run_pipeline
from bot.store.ratelimit import OverRate, is_rate_guard
from bot.store.workspace import WorkspaceRedis, is_identity, time_now

COUNTED, DUPLICATE, REBUILDING, STALE_CONFIG, CONFLICT, STALE_CACHE = 1, 0, -1, -2, -3, -4
OVER_RATE = -5  # a record call's answer {OVER_RATE, ms}: the sender is over its rate
Event = Usage | Outcome
CALL_EVENTS = 20  # usage reports and outcomes per record.lua call (at most a few ms of
# Redis, so that other clients' commands never wait long behind one; the calls of a
# batch still go in one round trip)
DAY_KEYS_KEPT = 4096  # (sender, day, raw metric) → keys remembered per process


def event_day(event: Event, tz: ZoneInfo) -> date:
    """The day an event counts on: a vendor row's own calendar date, else the local day
    of its time."""
    return getattr(event, "day", None) or local_date(event.ts, tz)


def stored_fingerprint(text: str) -> bytes:
    """A content fingerprint as stored with an event id: its first 8 hex digits as 4
    bytes (a reused id with other content is still told apart, but for 1 in 4 billion)."""
    try:
        return bytes.fromhex(text[:8]) if len(text) >= 8 else (text or "-").encode()
    except ValueError:
        return text.encode()


@dataclass
class _Slot:
    """One usage group (the usage reports of one person or identity and day) or one
    outcome: what one record.lua item counts, and the indices of its events."""

    who: str
    day: date
    parts: list[UsagePart] = field(default_factory=list)
    outcome: Outcome | None = None
    indices: list[int] = field(default_factory=list)


class Counting:
    def __init__(self, ws: WorkspaceRedis, wait_replicas: int = 0, wait_ms: int = 500) -> None:
        """`wait_replicas`: counting returns only once that many replicas have the writes
        (WAIT, at most `wait_ms`), else raises redis.ConnectionError (REDIS_WAIT_REPLICAS)."""
        self.ws = ws
        self.wait_replicas, self.wait_ms = wait_replicas, wait_ms
        self._day_keys: dict[tuple[str, date, str], DayKeys] = {}
        self._rules: tuple[BoardConfig, str] | None = None

    def _keys_of(self, sender: str, day: date, raw_metric: str) -> DayKeys:
        at = (sender, day, raw_metric)
        found = self._day_keys.get(at)
        if found is None:
            if len(self._day_keys) >= DAY_KEYS_KEPT:
                self._day_keys.clear()
            found = self._day_keys[at] = day_keys(self.ws.keys, sender, day, raw_metric)
        return found

    def _rules_of(self, config: BoardConfig) -> str:
        memo = self._rules
        if memo is None or memo[0] is not config:
            memo = self._rules = (config, scoring_rules(config))
        return memo[1]

    def record(self, events: Sequence[tuple[Event, str]], config: BoardConfig,
               version: int = 0, sender: str = "default",
               guards: Sequence[tuple[str, str]] = ()) -> list[int]:
        """Count each (event, who) once. `who` is a Slack user id, or an identity
        (`source:value`) that maps to nobody yet: then the counts are kept under the
        identity until an admin links it (see bot.intake.identities). Event ids are scoped to
        `sender`. Per event: COUNTED, DUPLICATE, CONFLICT (the id was used before for
        other content), STALE_CONFIG (`version` is not the stored configuration version)
        or STALE_CACHE (a `guards` key, (key, value), does not hold its value); the last
        two for every event of that script call, none of which was counted: reload and
        retry those events. When `guards` holds the sender's rate (bot.store.ratelimit)
        and the request is over it, raises OverRate and nothing is counted. A running
        rebuild never stops counting.

        Usage events of one person and day are counted together (their day and boards
        written once) and each outcome on its own, each atomically (all of its counters
        or none), CALL_EVENTS to a lua/record.lua call, the calls pipelined without MULTI
        so a large batch never holds Redis for long. A connection error raises
        redis.ConnectionError; events that did run are remembered, so a retry of the
        whole batch counts each event once.
        """
        tz = self.ws.tz
        slots: list[_Slot] = []
        groups: dict[tuple[str, date], _Slot] = {}
        for index, (event, who) in enumerate(events):
            day = event_day(event, tz)
            if isinstance(event, Usage):
                slot = groups.get((who, day))
                if slot is None:
                    slot = groups[(who, day)] = _Slot(who, day)
                    slots.append(slot)
                slot.parts.append(self._usage_part(event, day))
            else:
                slot = _Slot(who, day, outcome=event)
                slots.append(slot)
            slot.indices.append(index)
        calls = self._calls(slots, config, version, sender, guards)
        if len(calls) > 1 and any(is_rate_guard(g) for g in guards):
            # the first call counts the request against the sender's rate; if it is
            # refused, it closes the request's gate, which the others check
            gate = self.ws.keys.rate_gate(os.urandom(8).hex())
            calls[0][0].add_guard(gate, "gate")
            for later, _ in calls[1:]:
                later.add_guard(gate, "0")
        answers = self._run([(RECORD, c.call()) for c, _ in calls])
        if answers:
            _raise_over_rate(answers[0])
        statuses = [0] * len(events)
        for (record, indices), answer in zip(calls, answers, strict=True):
            if len(answer) == 1 and record.events > 1:  # the whole call: stale
                answer = answer * record.events
            for index, status in zip(indices, answer, strict=True):
                statuses[index] = int(status)
        return statuses

    def check(self, version: int, guards: Sequence[tuple[str, str]]) -> int:
        """COUNTED when `version` is the stored configuration version and every guard
        holds (lua/record.lua with no events), else STALE_CONFIG or STALE_CACHE."""
        answer = self._run([(RECORD, RecordCall(self.ws.keys, version, time_now(), "",
                                                guards).call())])[0]
        _raise_over_rate(answer)
        return int(answer[0]) if answer else COUNTED

    def _calls(self, slots: list[_Slot], config: BoardConfig, version: int, sender: str,
               guards: Sequence[tuple[str, str]]) -> list[tuple[RecordCall, list[int]]]:
        keys, now, rules = self.ws.keys, time_now(), self._rules_of(config)
        raw, expiries = config.raw_metric, {}
        calls: list[tuple[RecordCall, list[int]]] = []
        record = None
        for slot in slots:
            if record is None or record.events >= CALL_EVENTS:
                record = RecordCall(keys, version, now, rules, guards)
                calls.append((record, []))
                guards = [g for g in guards if not is_rate_guard(g)]  # the first call's
            day, who = slot.day, slot.who
            day_ttls: Ttls | None = expiries.get(day)
            if day_ttls is None:
                day_ttls = expiries[day] = ttls(day, self.ws.tz, self.ws.retention_days)
            at = record.day(day, self._keys_of(sender, day, raw), day_ttls)
            kept = (keys.identity_day(day, who), keys.identity_days(who)) \
                if is_identity(who) else None
            event = slot.outcome
            if event is None:
                record.usage(at, who, kept, slot.parts)
            else:
                field_name = f"o:{event.kind}"
                if event.modifiers:
                    field_name += "~" + "+".join(sorted(event.modifiers))
                record.outcome(at, who, kept, stored_fingerprint(event.fingerprint),
                               field_name, event.count, event.kind, id_digest(event.id))
            calls[-1][1].extend(slot.indices)
        return calls

    def _usage_part(self, event: Usage, day: date) -> UsagePart:
        keys = self.ws.keys
        cumulative = bool(event.series)
        if event.row:
            marker, kind = keys.vendor_row(event.row, day), "r"
        elif cumulative:
            marker, kind = keys.series(event.series), "c"
        else:
            marker, kind = None, "d"
        return UsagePart(marker=marker, kind=kind,
                         fingerprint=stored_fingerprint(event.fingerprint), value=event.value,
                         start=f"{event.start_ns:020d}" if cumulative else id_digest(event.id),
                         time=f"{event.time_ns:020d}", fields=event.fields)

    def _run(self, calls: list[tuple[Script, Call]]) -> list:
        """EVALSHA each call in one pipeline (no SCRIPT EXISTS round trip); if Redis has
        lost the scripts (a restart), load them and run the pipeline again: what already
        ran is deduplicated by its markers. With `wait_replicas`, the pipeline ends with
        WAIT, and too few replicas confirming raises redis.ConnectionError (the caller
        answers 503; the sender's retry is deduplicated)."""

        def build(pipe: redis.client.Pipeline) -> None:
            for script, call in calls:
                script.queue(pipe, call)
            if self.wait_replicas:
                pipe.execute_command("WAIT", self.wait_replicas, self.wait_ms)

        answers = run_pipeline(self.ws.r, build, (RECORD,))
        if self.wait_replicas and answers.pop() < self.wait_replicas:
            raise redis.ConnectionError(
                f"fewer than {self.wait_replicas} replica(s) confirmed the writes "
                f"within {self.wait_ms} ms (REDIS_WAIT_REPLICAS)")
        return answers

    def credit_day(self, identity: str, user: str, day: date, config: BoardConfig,
                   version: int) -> int:
        """Move an unmapped identity's counts of `day` to `user` (points scored with
        `config`). 1 credited, 0 nothing there, or STALE_CONFIG."""
        keys = self.ws.keys
        call = credit_call(keys, identity_day=keys.identity_day(day, identity), member=user,
                           day=day, raw_metric=config.raw_metric,
                           ttls=ttls(day, self.ws.tz, self.ws.retention_days),
                           version=version, rules=scoring_rules(config))
        return int(CREDIT.run(self.ws.r, call))


def _raise_over_rate(answer: list) -> None:
    """OverRate when a record call answered {OVER_RATE, ms}: nothing of it counted."""
    if len(answer) == 2 and int(answer[0]) == OVER_RATE:
        raise OverRate(int(answer[1]) / 1000)
