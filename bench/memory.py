"""Redis memory per person-day, split by key family, through the counting scripts.

Fills `people × days` (default 100,000 × 1; `--people 20000 --days 30` for a month-long
window; `--quick` 5,000 × 3) through `Store.counting.record`: each person-day 2–6 usage events and
0–4 outcomes (mean 2), 6.0 events on average, event ids shaped like UUIDs (36
characters, as senders typically use); each usage event is by one of the person-day's
tools (1 for 70 % of person-days, 2 for 25 %, 3 for 5 %) and models (1 for 50 %, 2 for
35 %, 3 for 15 %) with its per-tool and per-model fields (`bot.core.tools`; `--no-tools`
leaves them out); the usage events of a person-day go through one
script call, each outcome through its own, 2,000 person-days per pipeline, from two
processes. Reports:

- `used_memory` after minus before (scripts preloaded), per person-day and per event;
- `MEMORY USAGE` (samples 0: every element counted) summed per key family: event ids
  (directories and buckets), day counts (directories and buckets), and each sorted-set
  family; what is left of used_memory (the main and expires dict tables, allocator
  rounding) as "other";
- a projection to 100,000 people × 30 days: the per-day families scale with person-days,
  the week, month and all-time sets with people × the number of such sets in 30 days.

    .venv/bin/python -m bench.memory [--quick] [--people N] [--days D] [--no-tools]
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import redis

from bench._common import machine, private_redis, redis_version
from bot.core.config import BoardConfig
from bot.core.counts import Outcome, Usage, fingerprint
from bot.core.periods import buckets_for_day
from bot.core.tools import usage_fields
from bot.store.store import Store

KINDS = ("pr_merged", "deploy", "incident_resolved", "ticket_resolved", "review", "commit")
BATCH = 2000  # person-days per Store.counting.record call
WORKERS = 2  # filling processes (Redis runs the scripts one at a time either way)
TARGET = (100_000, 30)
TOOLS = ("claude_code", "cursor", "copilot", "codex", "gemini_cli")
MODELS = ("claude-sonnet-4-5-20250929", "claude-opus-4-5-20251101", "claude-haiku-4-5",
          "gpt-5", "gpt-5-codex", "gemini-2.5-pro")


def person_day_events(rng: random.Random, user: str, day_start: datetime,
                      tools: bool = True) -> list[Any]:
    """A person-day's reports, as the usage/outcome shapes `Store.counting.record` counts."""
    events: list[Any] = []
    used = rng.sample(TOOLS, rng.choices((1, 2, 3), (70, 25, 5))[0])
    models = rng.sample(MODELS, rng.choices((1, 2, 3), (50, 35, 15))[0])
    for _ in range(rng.randint(2, 6)):
        ts = day_start + timedelta(seconds=rng.randint(0, 86_399))
        tokens = int(rng.lognormvariate(10, 1.0))
        fields = (("tokens", tokens), ("cost", round(tokens * 3e-6, 6)),
                  ("requests", rng.randint(1, 8)), ("input_tokens", tokens * 3 // 4),
                  ("output_tokens", tokens // 4))
        if tools:
            fields += tuple(usage_fields(rng.choice(used), tokens=tokens,
                                         cost=round(tokens * 3e-6, 6),
                                         model=rng.choice(models)))
        events.append(Usage(id=str(uuid.UUID(int=rng.getrandbits(128), version=4)), ts=ts,
                            fields=fields, fingerprint=fingerprint(user, ts, fields)))
    for _ in range(rng.choice((0, 1, 2, 2, 3, 4))):
        ts = day_start + timedelta(seconds=rng.randint(0, 86_399))
        kind, count = rng.choice(KINDS), rng.choice((1, 1, 2))
        events.append(Outcome(id=str(uuid.UUID(int=rng.getrandbits(128), version=4)), ts=ts,
                              kind=kind, count=count,
                              fingerprint=fingerprint(user, ts, kind, count)))
    return events


def fill(url: str, people: int, ndays: int, first: datetime, worker: int,
         tools: bool = True) -> int:
    """Count worker's share of the people (every WORKERS-th block of BATCH) on every day."""
    client = redis.Redis.from_url(url)
    store = Store(client, retention_days=400)
    config = BoardConfig()
    events = 0
    for d in range(ndays):
        day_start = first + timedelta(days=d)
        for block in range(worker * BATCH, people, WORKERS * BATCH):
            rng = random.Random(d * people + block)
            pending = [(e, f"U{p:08X}")  # Slack-like 9-character ids
                       for p in range(block, min(block + BATCH, people))
                       for e in person_day_events(rng, f"U{p:08X}", day_start, tools)]
            events += sum(store.counting.record(pending, config))
        if worker == 0:
            print(f"   day {d + 1}/{ndays} filled", flush=True)
    client.close()
    return events


def family(key: str) -> str:
    """A key's family: ids, days, z:<metric>:<scope>, or the key's own kind."""
    parts = key.split(":")[1:]  # after "tb"
    if parts[1] in ("ids", "days"):
        return parts[1]
    if parts[1] == "z":
        parts = parts[1:]
        scope = parts[2] if parts[2] == "d" or parts[1] in ("tokens", "points") else "wma"
        return f"z:{parts[1]}:{scope}"
    return parts[1]


def usage_by_family(client: redis.Redis) -> tuple[dict[str, int], dict[str, int]]:
    """(bytes by MEMORY USAGE, key count) per family, every key counted."""
    keys = list(client.scan_iter(match="tb:*", count=5000))
    size: dict[str, int] = defaultdict(int)
    count: dict[str, int] = defaultdict(int)
    for start in range(0, len(keys), 2000):
        batch = keys[start:start + 2000]
        pipe = client.pipeline(transaction=False)
        for key in batch:
            pipe.memory_usage(key, samples=0)
        for key, used in zip(batch, pipe.execute(), strict=True):
            name = family(key.decode("latin-1"))
            size[name] += used or 0
            count[name] += 1
    return size, count


def period_sets(days: int) -> tuple[int, int]:
    """(weeks, months) touched by `days` consecutive days ending yesterday."""
    today = datetime.now(UTC).date()
    buckets = {b for k in range(1, days + 1) for b in buckets_for_day(today - timedelta(k))}
    return (sum(b.scope == "w" for b in buckets), sum(b.scope == "m" for b in buckets))


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5,000 people x 3 days")
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=1)
    parser.add_argument("--no-tools", action="store_true",
                        help="leave out the per-tool and per-model fields")
    args = parser.parse_args(argv)
    people, ndays = (5_000, 3) if args.quick else (args.people, args.days)
    print(f"== memory: {people:,} people x {ndays} days through Store.counting.record "
          f"({machine()})")
    first = (datetime.now(UTC) - timedelta(days=ndays)).replace(hour=0, minute=0, second=0,
                                                                microsecond=0)
    config = BoardConfig()
    with private_redis() as (_server, client):
        print(f"   {redis_version(client)}; hash-max-listpack-entries "
              f"{client.config_get('hash-max-*')}")
        store = Store(client, retention_days=400)
        store.counting.record([(person_day_events(random.Random(), "U0", first)[0], "U0")], config)
        client.flushall()  # the scripts stay loaded
        m0 = int(client.info("memory")["used_memory"])
        t0 = time.perf_counter()
        with multiprocessing.get_context("fork").Pool(WORKERS) as pool:
            events = sum(pool.starmap(fill, [(_server.url, people, ndays, first, w,
                                              not args.no_tools) for w in range(WORKERS)]))
        secs = time.perf_counter() - t0
        stats = client.info("commandstats").get("cmdstat_evalsha", {})
        m1 = int(client.info("memory")["used_memory"])
        size, count = usage_by_family(client)
    person_days = people * ndays
    total = m1 - m0
    print(f"   counted {events:,} events ({events / person_days:.1f} per person-day) in "
          f"{secs:.0f} s ({events / secs:,.0f} events/s; Redis "
          f"{stats.get('usec_per_call', 0):.0f} us per script call); used_memory "
          f"+{total / 2**20:,.1f} MiB")
    print(f"   bytes per person-day: {total / person_days:,.0f} "
          f"(= {total / events:,.0f} bytes per event)")
    print(f"   {'family':18s} {'keys':>9s} {'MEMORY USAGE':>14s} {'/person-day':>11s} "
          f"{'share':>6s}")
    other = total - sum(size.values())
    for name in sorted(size, key=lambda n: -size[n]):
        print(f"   {name:18s} {count[name]:9,d} {size[name]:14,d} "
              f"{size[name] / person_days:11,.1f} {size[name] / total:6.1%}")
    print(f"   {'other (dict tables)':18s} {'':9s} {other:14,d} {other / person_days:11,.1f} "
          f"{other / total:6.1%}")
    # Projection to 100,000 people x 30 days: per-day families per person-day, the
    # week/month/all-time sets per member (× the sets a 30-day window has).
    per_day = sum(v for k, v in size.items() if k in ("ids", "days") or k.endswith(":d"))
    weeks, months = period_sets(ndays)
    wma = sum(v for k, v in size.items() if k.endswith((":w", ":m", ":a", ":wma")))
    members = people * (2 * weeks + 2 * months + 4)  # tokens+points w/m, 4 metrics a
    per_member = wma / members
    t_people, t_days = TARGET
    t_weeks, t_months = period_sets(t_days)
    t_members = t_people * (2 * t_weeks + 2 * t_months + 4)
    t_pd = t_people * t_days
    projected = (per_day / person_days * (1 + other / total) * t_pd
                 + per_member * (1 + other / total) * t_members) / t_pd
    print(f"   per-day families {per_day / person_days:,.0f} B/person-day; period sets "
          f"{per_member:,.0f} B per member ({weeks} weeks, {months} months here)")
    print(f"   projected at {t_people:,} x {t_days} days ({t_weeks} weeks, {t_months} months; "
          f"other scaled alike): {projected:,.0f} bytes per person-day (target <= 500)")
    return {"bytes_per_person_day": total / person_days, "projected_100k_x_30": projected,
            "ids_share": size.get("ids", 0) / total, "days_share": size.get("days", 0) / total}


if __name__ == "__main__":
    main()
