"""Counting: the events of the counting model (`bot.core.counts` Usage and Outcome) into
people's days and the period boards, exactly once per event id; crediting an unmapped
identity's kept days to the person it was linked to.

Both boards of a bucket hold the same members: a usage event adds its person to the
points set with 0 and an outcome event adds them to the raw sets with 0, so rank
arithmetic on either board covers everyone active.
"""

from __future__ import annotations

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
    OUTCOME,
    USAGE,
    EventArgs,
    EventKeys,
    UsagePart,
    credit_call,
    event_keys,
    outcome_call,
    scoring_rules,
    ttls,
    usage_call,
)
from bot.store.lua import Call, Script, run_pipeline
from bot.store.workspace import WorkspaceRedis, is_identity, time_now

COUNTED, DUPLICATE, REBUILDING, STALE_CONFIG, CONFLICT = 1, 0, -1, -2, -3
Event = Usage | Outcome


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
class _UsageGroup:
    """The usage events of one person (or identity) and day: one usage.lua call."""

    keys: EventKeys
    head: EventArgs
    tools: str  # the org's per-tool totals of the day
    parts: list[UsagePart] = field(default_factory=list)


class Counting:
    def __init__(self, ws: WorkspaceRedis, wait_replicas: int = 0, wait_ms: int = 500) -> None:
        """`wait_replicas`: counting returns only once that many replicas have the writes
        (WAIT, at most `wait_ms`), else raises redis.ConnectionError (REDIS_WAIT_REPLICAS)."""
        self.ws = ws
        self.wait_replicas, self.wait_ms = wait_replicas, wait_ms

    def _head(self, who: str, day: date, version: int, fingerprint: bytes | str,
              now: float) -> EventArgs:
        return EventArgs(member=who, ttls=ttls(day, self.ws.tz, self.ws.retention_days),
                         version=version, fingerprint=fingerprint,
                         mapped=not is_identity(who), day=day, now=now)

    def record(self, events: Sequence[tuple[Event, str]], config: BoardConfig,
               version: int = 0, sender: str = "default") -> list[int]:
        """Count each (event, who) once. `who` is a Slack user id, or an identity
        (`source:value`) that maps to nobody yet: then the counts are kept under the
        identity until an admin links it (see bot.intake.identities). Event ids are scoped to
        `sender`. Per event: COUNTED, DUPLICATE, STALE_CONFIG (`version` is not the
        stored configuration version: reload it and retry that event) or CONFLICT (the
        id was used before for other content). A running rebuild never stops counting.

        Usage events of one person and day go through one Lua script call together and
        each outcome through its own (atomic: all of its counters or none), pipelined
        without MULTI so a large batch never holds Redis for long. A connection error
        raises redis.ConnectionError; events that did run are remembered, so a retry of
        the whole batch counts each event once.
        """
        now = time_now()
        keys = self.ws.keys
        # in order: a usage group (its call built once all its parts are known) or a call
        slots: list[tuple[Script, _UsageGroup | Call, list[int]]] = []
        groups: dict[tuple[str, date], int] = {}
        for index, (event, who) in enumerate(events):
            day = event_day(event, self.ws.tz)
            ids = keys.ids(sender, day)
            if isinstance(event, Usage):
                at = groups.get((who, day))
                if at is None:
                    group = _UsageGroup(event_keys(keys, day, who, ids, config.raw_metric,
                                                   "tokens"),
                                        self._head(who, day, version, "-", now),
                                        keys.tool_totals(day))
                    groups[(who, day)] = at = len(slots)
                    slots.append((USAGE, group, []))
                _, group, indices = slots[at]
                assert isinstance(group, _UsageGroup)
                group.parts.append(self._usage_part(event, day))
                indices.append(index)
                continue
            field_name = f"o:{event.kind}"
            if event.modifiers:
                field_name += "~" + "+".join(sorted(event.modifiers))
            call = outcome_call(
                keys=event_keys(keys, day, who, ids, config.raw_metric, "outcomes"),
                head=self._head(who, day, version, stored_fingerprint(event.fingerprint), now),
                field=field_name, count=event.count, kind=event.kind,
                rules=scoring_rules(config, event.kind), digest=id_digest(event.id))
            slots.append((OUTCOME, call, [index]))
        calls = [(script, usage_call(keys=what.keys, head=what.head, parts=what.parts,
                                          tools=what.tools)
                  if isinstance(what, _UsageGroup) else what) for script, what, _ in slots]
        answers = self._run(calls)
        statuses = [0] * len(events)
        for (_, _, indices), answer in zip(slots, answers, strict=True):
            parts = answer if isinstance(answer, list) else [answer] * len(indices)
            for index, status in zip(indices, parts, strict=True):
                statuses[index] = int(status)
        return statuses

    def _usage_part(self, event: Usage, day: date) -> UsagePart:
        keys = self.ws.keys
        cumulative = bool(event.series)
        if event.row:
            marker, kind = keys.vendor_row(event.row, day), "r"
        elif cumulative:
            marker, kind = keys.series(event.series), "c"
        else:
            marker, kind = keys.none(), "d"
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

        answers = run_pipeline(self.ws.r, build, (USAGE, OUTCOME))
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
        call = credit_call(
            keys=event_keys(keys, day, user, keys.identity_day(day, identity),
                            config.raw_metric, "tokens"),
            head=self._head(user, day, version, "-", 0), rules=scoring_rules(config))
        return int(CREDIT.run(self.ws.r, call))
