"""Redis memory per person per day, and the share taken by dedupe (`seen`) keys.

Ingests a realistic stretch through `Store.record` (batches of 1,000): 5,000 people x
5 days, each person-day a few usage events (2-6) and a couple of outcomes (0-4, mean
2), event ids shaped like UUIDs (36 characters, as senders typically use). Memory is
`INFO memory` used_memory after minus before, divided by person-days. The split comes
from deleting each key family in turn (seen keys, then day hashes) and reading
used_memory again, so per-key overhead (main dict + expires dict entries) is included;
`MEMORY USAGE` on samples is printed alongside.

    .venv/bin/python -m bench.memory [--quick]
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import redis

from bench._common import machine, parse_args, private_redis, redis_version
from bot.config import BoardConfig
from bot.reports import OutcomeReport, UsageReport
from bot.store import OUTCOME_LUA, USAGE_LUA, Store

KINDS = ("pr_merged", "deploy", "incident_resolved", "ticket_resolved", "review", "commit")
TOOLS = ("meshclaw", "copilot", "cursor", "claude-code")
BATCH = 1000


def person_day_events(rng: random.Random, user: str, day_start: datetime) -> list[Any]:
    events: list[Any] = []
    for _ in range(rng.randint(2, 6)):
        ts = day_start + timedelta(seconds=rng.randint(0, 86_399))
        tokens = int(rng.lognormvariate(10, 1.0))
        events.append(UsageReport(id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                                  type="usage", user=user, ts=ts, tool=rng.choice(TOOLS),
                                  tokens=tokens, cost_usd=round(tokens * 3e-6, 6),
                                  requests=rng.randint(1, 8), input_tokens=tokens * 3 // 4,
                                  output_tokens=tokens // 4))
    for _ in range(rng.choice((0, 1, 2, 2, 3, 4))):
        ts = day_start + timedelta(seconds=rng.randint(0, 86_399))
        events.append(OutcomeReport(id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                                    type="outcome", user=user, ts=ts, kind=rng.choice(KINDS),
                                    count=rng.choice((1, 1, 2))))
    return events


def used(client: redis.Redis, settle: bool = False) -> int:
    """used_memory; with `settle`, after the server cron has shrunk emptied hash tables."""
    value = int(client.info("memory")["used_memory"])
    deadline = time.monotonic() + 5
    while settle and time.monotonic() < deadline:
        time.sleep(0.3)
        again = int(client.info("memory")["used_memory"])
        if again == value:
            break
        value = again
    return value


def delete_matching(client: redis.Redis, pattern: str) -> int:
    n = 0
    batch: list[bytes] = []
    for key in client.scan_iter(match=pattern, count=5000):
        batch.append(key)
        if len(batch) >= 5000:
            n += client.delete(*batch)
            batch = []
    if batch:
        n += client.delete(*batch)
    return n


def sample_usage(client: redis.Redis, pattern: str, limit: int) -> tuple[int, float]:
    """(count of keys matching, mean MEMORY USAGE of up to `limit` of them)."""
    keys = list(client.scan_iter(match=pattern, count=5000))
    sample = keys[:limit]
    sizes = [client.memory_usage(k, samples=0) or 0 for k in sample]
    return len(keys), (sum(sizes) / len(sizes) if sizes else 0.0)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(__doc__.splitlines()[0], argv)
    people = 1_000 if args.quick else 5_000
    ndays = 5
    print(f"== memory: {people:,} people x {ndays} days through Store.record "
          f"({machine()})")
    rng = random.Random(11)
    now = datetime.now(UTC)
    first = (now - timedelta(days=ndays)).replace(hour=0, minute=0, second=0, microsecond=0)
    config = BoardConfig()
    with private_redis() as (_server, client):
        print(f"   {redis_version(client)}")
        store = Store(client, retention_days=400)
        client.script_load(USAGE_LUA)
        client.script_load(OUTCOME_LUA)
        m0 = used(client)
        events = 0
        pending: list[tuple[Any, str]] = []
        t0 = time.perf_counter()
        for d in range(ndays):
            day_start = first + timedelta(days=d)
            for p in range(people):
                user = f"U{p:07d}"
                for report in person_day_events(rng, user, day_start):
                    pending.append((report, user))
                if len(pending) >= BATCH:
                    events += sum(store.record(pending, config))
                    pending = []
        if pending:
            events += sum(store.record(pending, config))
        secs = time.perf_counter() - t0
        m1 = used(client)
        person_days = people * ndays
        total = m1 - m0
        counts = {
            "seen": sample_usage(client, "tb:{default}:seen:*", 2000),
            "day": sample_usage(client, "tb:{default}:day:*", 1000),
            "z": sample_usage(client, "tb:{default}:z:*", 1000),
        }
        zset_bytes = sum(client.memory_usage(k, samples=0) or 0
                         for k in client.scan_iter(match="tb:{default}:z:*", count=5000))
        delete_matching(client, "tb:{default}:seen:*")
        m2 = used(client, settle=True)
        delete_matching(client, "tb:{default}:day:*")
        m3 = used(client, settle=True)
        seen_b, day_b, rest_b = m1 - m2, m2 - m3, m3 - m0
    print(f"   ingested {events:,} events ({events / person_days:.1f} per person-day) in "
          f"{secs:.1f} s; used_memory +{total / 2**20:.1f} MiB")
    print(f"   bytes per person-day: {total / person_days:,.0f} "
          f"(= {total / events:,.0f} bytes per event)")
    print(f"   {'family':28s} {'keys':>8s} {'bytes':>12s} {'share':>6s} {'/person-day':>11s} "
          f"{'MEMORY USAGE avg':>16s}")
    rows = [("seen (dedupe) keys", counts["seen"], seen_b),
            ("day hashes", counts["day"], day_b),
            ("sorted sets d/w/m/a + gen", counts["z"], rest_b)]
    for name, (n, avg), b in rows:
        print(f"   {name:28s} {n:8,d} {b:12,d} {b / total:6.1%} {b / person_days:11,.0f} "
              f"{avg:16,.0f}")
    print(f"   (sorted sets by MEMORY USAGE: {zset_bytes:,} bytes; the rest of that row is "
          f"key overhead and the main/expires hash tables, which Redis only shrinks lazily)")
    per_day = (seen_b + day_b) / person_days
    print(f"   seen keys and day hashes live 401 days: at 400-day retention they alone hold "
          f"~{per_day * people * 400 / 2**30:.2f} GiB for {people:,} people active daily "
          f"({seen_b / (seen_b + day_b):.0%} of that is dedupe keys), plus the day zsets")
    return {"bytes_per_person_day": total / person_days, "seen_share": seen_b / total,
            "day_share": day_b / total, "zset_share": rest_b / total}


if __name__ == "__main__":
    main()
