"""Counting a batch in one script call leaves Redis exactly as one call per usage group
(the usage reports of one person and day) and per outcome does: every board set (member
and score, bit for bit), every day's counts, every expiry's presence, the generation
counter, and each event's status."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
import redis

from bot.core.config import BoardConfig, OutcomeRule
from bot.sources.reports import OutcomeReport, UsageReport, as_counts
from bot.store import counting
from bot.store.store import COUNTED, Store

NOW = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
CONFIG = BoardConfig(outcomes={
    "lin": OutcomeRule(label="L", weight=2.5, cap=None, transform="linear"),
    "sq": OutcomeRule(label="S", weight=3, cap=7, transform="sqrt"),
})


def _events(n: int, seed: int) -> list:
    rng = random.Random(seed)
    users = ["U0A", "U0B", "U0C", "U0D", "email:kept@example.com"]
    out = []
    for i in range(n):
        user = rng.choice(users)
        ts = NOW - timedelta(days=rng.randrange(3), minutes=rng.randrange(600))
        if rng.random() < 0.7:
            tokens = rng.randint(1, 90_000)
            report = UsageReport(id=f"e{i % (n - 5)}", type="usage", user=None if ":" in user
                                 else user, email=user[6:] if ":" in user else None, ts=ts,
                                 tool="t", tokens=tokens, cost_usd=round(tokens * 3.7e-6, 9),
                                 requests=rng.randint(1, 3))
        else:
            report = OutcomeReport(id=f"e{i % (n - 5)}", type="outcome", user=None
                                   if ":" in user else user, email=user[6:] if ":" in user
                                   else None, ts=ts, kind=rng.choice(["lin", "sq"]),
                                   count=rng.randint(1, 4))
        out.append((as_counts(report), user))
    return out


def _state(r: redis.Redis, store: Store) -> dict:
    prefix = store.keys.key("")
    state = {}
    for key in r.scan_iter(match=prefix + "*"):
        name = key.decode()[len(prefix):]
        kind = r.type(key).decode()
        if kind == "zset":
            state[name] = dict(r.zrange(key, 0, -1, withscores=True))
        elif kind == "hash":
            state[name] = r.hgetall(key)
        elif kind == "set":
            state[name] = r.smembers(key)
        elif name != "unmapped:last":
            state[name] = r.get(key)
        state[name + " expires"] = r.ttl(key) > 0
    state.pop("unmapped:last", None)
    return state


def test_a_batch_counts_as_one_call_per_group(redis_client: redis.Redis,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    events = _events(260, seed=5)
    batched, single = Store(redis_client, workspace="Tbatch"), Store(redis_client,
                                                                     workspace="Tsingle")
    got, one = [], []
    for start in range(0, len(events), 50):
        got += batched.counting.record(events[start:start + 50], CONFIG)
    monkeypatch.setattr(counting, "CALL_EVENTS", 1)  # each group or outcome its own call
    for start in range(0, len(events), 50):
        one += single.counting.record(events[start:start + 50], CONFIG)
    assert got == one
    assert got.count(COUNTED) > 200 and set(got) - {COUNTED}  # repeated ids: not counted
    a, b = _state(redis_client, batched), _state(redis_client, single)
    assert a.keys() == b.keys()
    for name in a:
        assert a[name] == b[name], name
