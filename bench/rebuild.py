"""Rescoring after a weight change: 100,000 people x 90 days of raw daily counts.

Populate: for each day, a Lua generator writes every person's day hash (tokens and
outcome counts `o:pr_merged`, `o:review`, `o:commit`) plus the day's tokens and points
sorted sets scored with the default rules, exactly as the ingest scripts leave them; the
week/month/all-time sets are ZUNIONSTOREd from the days (setup only). Then
`Store.rebuild_points` runs with pr_merged's weight raised 5 → 8 and commit made linear,
and we report its wall time and, from SLOWLOG (slowlog-log-slower-than 0), the longest
single Redis command it issued. A few people's new all-time points are checked against
values computed here in Python from the same counts.

    .venv/bin/python -m bench.rebuild [--quick]
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import redis

from bench._common import machine, parse_args, private_redis, redis_version
from bot.config import BoardConfig, OutcomeRule
from bot.periods import buckets_for_day
from bot.store import Store

# KEYS: 1 tokens day set, 2 points day set; ARGV: n, day number, hash key prefix,
# hash key suffix length placeholder (unused), then the default rules for the 3 kinds.
GEN_LUA = """
local n, d, prefix = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local M = 2147483647
local function nxt(x) return (x * 48271) % M end
local t, p = {}, {}
for i = 0, n - 1 do
  local member = string.format('U%07d', i)
  local a = nxt(nxt(i + 1) + d * 7919)
  local b = nxt(a)
  local c = nxt(b)
  local tokens = 1000 + a % 200000
  local prs = b % 3
  local reviews = c % 5
  local commits = (a + c) % 30
  local fields = {'tokens', tokens}
  local points = 0
  if prs > 0 then fields[#fields + 1] = 'o:pr_merged'; fields[#fields + 1] = prs
    points = points + 5 * math.sqrt(math.min(prs, 10)) end
  if reviews > 0 then fields[#fields + 1] = 'o:review'; fields[#fields + 1] = reviews
    points = points + 2 * math.sqrt(math.min(reviews, 10)) end
  if commits > 0 then fields[#fields + 1] = 'o:commit'; fields[#fields + 1] = commits
    points = points + math.log(1 + math.min(commits, 20)) end
  redis.call('HSET', prefix .. member, unpack(fields))
  t[#t + 1] = tokens; t[#t + 1] = member
  p[#p + 1] = string.format('%.17g', points); p[#p + 1] = member
  if #t >= 2000 then
    redis.call('ZADD', KEYS[1], unpack(t)); redis.call('ZADD', KEYS[2], unpack(p))
    t, p = {}, {}
  end
end
if #t > 0 then redis.call('ZADD', KEYS[1], unpack(t)); redis.call('ZADD', KEYS[2], unpack(p)) end
return n
"""


def counts(i: int, d: int) -> tuple[int, int, int]:
    """The generator's (prs, reviews, commits) for person i on day number d."""
    m = 2147483647

    def nxt(x: int) -> int:
        return (x * 48271) % m

    a = nxt(nxt(i + 1) + d * 7919)
    b = nxt(a)
    c = nxt(b)
    return b % 3, c % 5, (a + c) % 30


def populate(client: redis.Redis, store: Store, people: int, days: list[date]) -> float:
    start = time.perf_counter()
    gen = client.register_script(GEN_LUA)
    groups: dict[Any, list[date]] = {}
    for i, day in enumerate(days):
        d_b = buckets_for_day(day)[0]
        prefix = store.day_key(day, "")
        gen(keys=[store.zkey("tokens", d_b), store.zkey("points", d_b)],
            args=[people, i, prefix])
        for bucket in buckets_for_day(day)[1:]:
            groups.setdefault(bucket, []).append(day)
        if (i + 1) % 30 == 0:
            print(f"   populated day {i + 1}/{len(days)}", flush=True)
    for bucket, members in groups.items():
        for metric in ("tokens", "points"):
            client.zunionstore(store.zkey(metric, bucket),
                               [store.zkey(metric, buckets_for_day(d)[0]) for d in members])
    return time.perf_counter() - start


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(__doc__.splitlines()[0], argv)
    people = 10_000 if args.quick else 100_000
    ndays = 90
    today = datetime.now(UTC).date()
    days = [today - timedelta(days=k) for k in range(ndays)]
    print(f"== rebuild: {people:,} people x {ndays} days ({machine()})")
    with private_redis() as (_server, client):
        print(f"   {redis_version(client)}")
        store = Store(client)
        secs = populate(client, store, people, days)
        mem = client.info("memory")["used_memory"]
        print(f"   populated {client.dbsize():,} keys in {secs:.1f} s "
              f"(used_memory {mem / 2**20:,.0f} MiB)")
        config = BoardConfig()
        outcomes = dict(config.outcomes)
        outcomes["pr_merged"] = OutcomeRule(label="PRs merged", weight=8, cap=10)
        outcomes["commit"] = OutcomeRule(label="Commits", weight=1, cap=20, transform="linear")
        config = config.model_copy(update={"outcomes": outcomes})
        client.config_set("slowlog-max-len", 1_000_000)
        client.slowlog_reset()
        client.config_set("slowlog-log-slower-than", 0)
        started = time.perf_counter()
        last = [0.0]

        def progress(done: int, total: int) -> None:
            if time.perf_counter() - last[0] > 10 or done == total:
                last[0] = time.perf_counter()
                print(f"   rescored day {done}/{total}", flush=True)

        stats = store.rebuild_points(config, progress)
        took = time.perf_counter() - started
        client.config_set("slowlog-log-slower-than", 10_000)
        log = client.slowlog_get(1_000_000)
        slowest = max(log, key=lambda e: e["duration"])
        command = slowest["command"]
        command = command.decode() if isinstance(command, bytes) else str(command)
        over = sum(1 for e in log if e["duration"] > 10_000)
        print(f"   rebuilt {stats['days']} days, {stats['person_days']:,} person-days, "
              f"{stats['buckets']} sorted sets in {took:.1f} s "
              f"({stats['person_days'] / took:,.0f} person-days/s)")
        print(f"   longest single Redis command: {slowest['duration']:,} us "
              f"({command[:60]}); commands over 10 ms: {over} of {len(log):,} "
              f"(target: none)")
        # check a few people against Python arithmetic on the generator's counts
        bad = 0
        for i in (0, 1, people // 2, people - 1):
            expected = 0.0
            for d in range(len(days)):
                prs, reviews, commits = counts(i, d)
                expected += (8 * math.sqrt(min(prs, 10)) + 2 * math.sqrt(min(reviews, 10))
                             + min(commits, 20))
            got = client.zscore(store.zkey("points", buckets_for_day(today)[3]), f"U{i:07d}")
            bad += not math.isclose(got or 0.0, expected, rel_tol=1e-9, abs_tol=1e-9)
        print("   sanity: " + ("new all-time points match Python arithmetic for 4 people"
                               if not bad else f"{bad} of 4 people MISMATCH"))
        return {"seconds": took, "person_days": stats["person_days"],
                "slowest_us": slowest["duration"], "over_10ms": over}


if __name__ == "__main__":
    main()
