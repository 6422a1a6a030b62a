"""The baseline of `bench.ingest`: the writes the counting scripts (lua/record.lua)
perform, issued from plain redis-py (`PlainWriter`, one non-transactional pipeline per
batch; `baseline_run`, one writer per sender thread), and the check that the app and the
baseline wrote the same (`snapshot` of the end state of each, `differences`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Any

import redis

from bench._common import INGEST_TOKEN, run_concurrently
from bot.core.config import BoardConfig
from bot.core.periods import buckets_for_day
from bot.core.tools import usage_fields
from bot.store.senders import parse_env_tokens
from bot.store.store import Store

PREFIX = "tb:{default}:"
SENDER_NAME = next(iter(parse_env_tokens((INGEST_TOKEN,))))  # what the app scopes ids to


class PlainWriter:
    """What the counting scripts (lua/record.lua) do, as plain pipelined commands.

    The scripts' early exits (stale configuration, already seen) cannot branch inside a
    pipeline; the guard reads are issued anyway and, every event being new, every write
    happens, as in the scripts. Event ids and day counts go into simpler forms (one
    HSETNX into a hash per sender-day, HINCRBYs into a hash per person-day, the per-tool
    fields of `bot.core.tools` included): the
    scripts' bucketed and packed forms need reads a pipeline cannot make. The end states
    are compared by content (see `snapshot`).
    """

    def __init__(self, client: redis.Redis, config: BoardConfig, retention_days: int = 400):
        self.r = client
        self.config = config
        self.retention = timedelta(days=retention_days)
        self.seen_ttl = retention_days * 86400 + 86400
        self.per_day: dict[date, tuple[list[str], tuple[int, int, int]]] = {}
        self.outcome_counts: dict[tuple[date, str, str], int] = {}

    def _day(self, day: date) -> tuple[list[str], tuple[int, int, int]]:
        cached = self.per_day.get(day)
        if cached is None:
            now = datetime.now(UTC)

            def until(last: date) -> int:
                end = datetime.combine(last + timedelta(days=1), dtime(), UTC) + self.retention
                return max(int((end - now).total_seconds()), 60)

            week_end = day + timedelta(days=7 - day.isoweekday())
            month_end = (day.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(1)
            suffixes = [f"{b.scope}:{b.name}" for b in buckets_for_day(day)]
            cached = (suffixes, (until(day), until(week_end), until(month_end)))
            self.per_day[day] = cached
        return cached

    def write_batch(self, events: list[dict]) -> None:
        pipe = self.r.pipeline(transaction=False)
        for ev in events:
            day = datetime.fromisoformat(ev["ts"]).astimezone(UTC).date()
            suffixes, ttls = self._day(day)
            user = ev["user"]
            day_key = f"{PREFIX}day:{day.isoformat()}:{user}"
            # the scripts' guards: configuration version unchanged, a rebuild to mirror into
            pipe.get(f"{PREFIX}config:version")
            pipe.hmget(f"{PREFIX}rebuild", "version", "metric")
            seen = f"{PREFIX}seen:{SENDER_NAME}:{day.isoformat()}"
            pipe.hsetnx(seen, ev["id"], "1")
            pipe.expire(seen, self.seen_ttl)
            if ev["type"] == "usage":
                tokens = ev["tokens"]
                pipe.hincrby(day_key, "tokens", tokens)
                pipe.hincrbyfloat(day_key, "cost", repr(float(ev["cost_usd"])))
                pipe.hincrby(day_key, "requests", ev["requests"])
                pipe.hincrby(day_key, "input_tokens", ev["input_tokens"])
                pipe.hincrby(day_key, "output_tokens", ev["output_tokens"])
                # the per-tool fields of the day, and of the org's day (bot.core.tools)
                tools_key = f"{PREFIX}tools:{day.isoformat()}"
                for field, amount in usage_fields(ev["tool"], tokens, ev["cost_usd"],
                                                  ev.get("model")):
                    pipe.hincrby(day_key, field, int(amount))
                    pipe.hincrby(tools_key, field, int(amount))
                pipe.expire(day_key, ttls[0])
                pipe.expire(tools_key, ttls[0])
                for metric, amount in (("tokens", tokens),
                                       ("cost", repr(float(ev["cost_usd"]))),
                                       ("requests", ev["requests"])):
                    for i, suffix in enumerate(suffixes):
                        if metric != "tokens" and i < 3:
                            continue  # cost, requests: all-time only (not the raw metric)
                        key = f"{PREFIX}z:{metric}:{suffix}"
                        pipe.zincrby(key, amount, user)
                        if i < 3:
                            pipe.expire(key, ttls[i])
                for i, suffix in enumerate(suffixes):
                    key = f"{PREFIX}z:points:{suffix}"
                    pipe.zadd(key, {user: 0}, nx=True)
                    if i < 3:
                        pipe.expire(key, ttls[i])
            else:
                kind, count = ev["kind"], ev["count"]
                rule = self.config.outcomes[kind]
                state = (day, user, kind)
                old = self.outcome_counts.get(state, 0)
                new = old + count
                self.outcome_counts[state] = new
                pipe.hincrby(day_key, f"o:{kind}", count)
                pipe.expire(day_key, ttls[0])
                for metric in ("tokens", "cost", "requests"):
                    for i, suffix in enumerate(suffixes):
                        if metric != "tokens" and i < 3:
                            continue
                        key = f"{PREFIX}z:{metric}:{suffix}"
                        pipe.zadd(key, {user: 0}, nx=True)
                        if i < 3:
                            pipe.expire(key, ttls[i])
                delta = float(rule.weight) * (_f(new, rule) - _f(old, rule))
                for i, suffix in enumerate(suffixes):
                    key = f"{PREFIX}z:points:{suffix}"
                    pipe.zincrby(key, repr(delta), user)
                    if i < 3:
                        pipe.expire(key, ttls[i])
            pipe.incr(f"{PREFIX}gen")
        pipe.execute()


def _f(x: int, rule: Any) -> float:
    cap = rule.cap or 0
    if cap > 0 and x > cap:
        x = cap
    if rule.transform == "sqrt":
        return math.sqrt(x)
    if rule.transform == "log":
        return math.log(1 + x)
    return float(x)


def baseline_run(client_factory: Callable[[], redis.Redis], config: BoardConfig,
                 lanes: list[list[list[dict]]]) -> float:
    def sender(k: int) -> Callable[[], None]:
        def go() -> None:
            writer = PlainWriter(client_factory(), config)
            for batch in lanes[k]:
                writer.write_batch(batch)
        return go

    return run_concurrently([sender(k) for k in range(len(lanes))])


# -- checking both runs wrote the same thing ------------------------------------------------

def snapshot(client: redis.Redis, app: bool) -> dict[str, Any]:
    """What both runs must agree on: every sorted set, how many event ids each sender's
    day remembers, the org's per-tool totals of each day, and every person's day counts
    (read from the app's packed buckets with `Store.reads.day_counts`, from the
    baseline's plain hashes)."""
    out: dict[str, Any] = {}
    store = Store(client)
    for key in client.scan_iter(match=f"{PREFIX}*", count=5000):
        k = key.decode("latin-1")
        kind = client.type(key).decode()
        if kind == "zset":
            out[k] = {m.decode(): s for m, s in client.zrange(key, 0, -1, withscores=True)}
            if not app or ":z:tokens:d:" not in k:
                continue
            day = date.fromisoformat(k.rsplit(":", 1)[1])
            for user in out[k]:
                out[f"{PREFIX}day:{day.isoformat()}:{user}"] = store.reads.day_counts(day, user)
        elif kind == "hash" and ":tools:" in k:  # the org's per-tool totals of a day
            out[k] = {f.decode(): float(v) for f, v in client.hgetall(key).items()}
        elif kind == "hash" and app and ":ids:" in k and k.count(":") == 5:  # a bucket
            ids = f"{PREFIX}ids:{k.split(':')[3]}:{k.split(':')[4]}"
            out[ids] = out.get(ids, 0) + client.hlen(key)
        elif kind == "hash" and not app and ":seen:" in k:  # the baseline's event ids
            out[k.replace(":seen:", ":ids:")] = client.hlen(key)
        elif kind == "hash" and not app:
            out[k] = {f.decode(): float(v) for f, v in client.hgetall(key).items()}
    return out


def differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    problems = []
    if set(a) != set(b):
        only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
        problems.append(f"key sets differ: app-only {only_a[:3]}, baseline-only {only_b[:3]}")
    for k in sorted(set(a) & set(b)):
        va, vb = a[k], b[k]
        if isinstance(va, dict):
            if set(va) != set(vb):
                problems.append(f"{k}: members differ")
                continue
            for m in va:
                if not math.isclose(va[m], vb[m], rel_tol=1e-9, abs_tol=1e-9):
                    problems.append(f"{k}[{m}]: {va[m]!r} != {vb[m]!r}")
                    break
        elif va != vb:
            problems.append(f"{k}: {va!r} != {vb!r}")
    return problems
