"""`/leaderboard` read latency at 100,000 people x 30 days, cold and warm.

Populate: the stored sorted sets are written directly (a Lua generator per day, then
ZUNIONSTORE ... AGGREGATE SUM for the week/month/all buckets, exactly the sums the
ingest scripts would have built), in the store's key layout: tokens/cost/requests/
points for every day, ISO week, month and all-time, every member in all four metrics,
TTLs from `bot.store.events.ttls`. Day hashes and dedupe (`seen`) keys are not written: no read
touches them.

Measure, per period (today, yesterday, week, month, all), over real HTTP: the time
until the signed slash command is acked (HTTP response) and until the board arrives at
the Slack stub's response_url (end to end). Cold = `INCR gen` before each request (the
board cache misses); warm = unchanged data (the cache hits). Redis round trips per
read come from a counting connection class on the app's client; commands per read and
the slowest single command from SLOWLOG with slowlog-log-slower-than 0.

    .venv/bin/python -m bench.leaderboard [--quick]
"""

from __future__ import annotations

import re
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import redis

from bench._common import (
    CountingConnection,
    KeepAlive,
    counting_client,
    machine,
    ms,
    parse_args,
    percentile,
    private_redis,
    redis_version,
    signed_command,
    slack_stub,
    start_app,
    time_responses,
)
from bot.core.periods import PERIODS, bucket_for_period, buckets_for_day
from bot.core.ranking import rank_board
from bot.store.events import METRICS, ttls
from bot.store.reads import READ_CHUNK
from bot.store.store import Store

BENCH_CLIENT = "bench"
VIEWER_INDEX = 4321  # a person in the data, so the answer carries their "#rank of N" line

# One day's four sorted sets for people 0..n-1, generated inside Redis.
# KEYS: tokens, cost, requests, points (day bucket); ARGV: n, day number, chunk size.
GEN_DAY_LUA = """
local n, d, chunk = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local M = 2147483647
local function nxt(x) return (x * 48271) % M end
local t, c, r, p = {}, {}, {}, {}
local function flush()
  if #t > 0 then
    redis.call('ZADD', KEYS[1], unpack(t))
    redis.call('ZADD', KEYS[2], unpack(c))
    redis.call('ZADD', KEYS[3], unpack(r))
    redis.call('ZADD', KEYS[4], unpack(p))
    t, c, r, p = {}, {}, {}, {}
  end
end
for i = 0, n - 1 do
  local member = string.format('U%07d', i)
  -- the person's level (same every day): heavy-tailed, 2k .. ~110k tokens a day
  local a = nxt(bit.bxor(nxt(i + 1), 1234567))
  local level = 2000 * math.exp(4 * a / M)
  -- the day's variation (xor breaks the linearity of the LCG between people and days)
  local x = nxt(bit.bxor(nxt(bit.bxor(a, (d * 2654435) % M)), 7654321))
  local y = nxt(x)
  local z = nxt(y)
  local tokens = math.floor(level * (0.25 + 1.5 * x / M))
  local cost = tokens * 0.000003
  local requests = 1 + math.floor(40 * y / M)
  local points = 0
  -- heavier users report outcomes a little more often
  local active = 0.3 + 0.4 * a / M
  if z / M < active then points = math.floor(150 * z / M / active) / 10 end
  local k = #t
  t[k + 1] = tokens; t[k + 2] = member
  c[k + 1] = cost; c[k + 2] = member
  r[k + 1] = requests; r[k + 2] = member
  p[k + 1] = points; p[k + 2] = member
  if #t >= 2 * chunk then flush() end
end
flush()
return n
"""


def populate(client: redis.Redis, store: Store, people: int, days: list[date]) -> float:
    """Write the stored layout for `people` x `days`; returns seconds taken."""
    start = time.perf_counter()
    gen = client.register_script(GEN_DAY_LUA)
    week_days: dict[Any, list[date]] = {}
    month_days: dict[Any, list[date]] = {}
    for day in days:
        d_b, w_b, m_b, _ = buckets_for_day(day)
        gen(keys=[store.keys.board(m, d_b) for m in METRICS],
            args=[people, day.toordinal(), 1000])
        week_days.setdefault(w_b, []).append(day)
        month_days.setdefault(m_b, []).append(day)
    all_b = buckets_for_day(days[0])[3]
    groups = list(week_days.items()) + list(month_days.items()) + [(all_b, days)]
    for bucket, members in groups:
        for metric in METRICS:
            sources = [store.keys.board(metric, buckets_for_day(d)[0]) for d in members]
            client.zunionstore(store.keys.board(metric, bucket), sources, aggregate="SUM")
    # TTLs as the ingest scripts set them (day, week, month; all-time never expires)
    pipe = client.pipeline(transaction=False)
    for day in days:
        t = ttls(day, store.tz, store.retention_days)
        ttl_d, ttl_w, ttl_m = t.d, t.w, t.m
        for metric in METRICS:
            for bucket, ttl in zip(buckets_for_day(day)[:3], (ttl_d, ttl_w, ttl_m),
                                   strict=True):
                pipe.expire(store.keys.board(metric, bucket), ttl)
    pipe.set(store.keys.key("gen"), 1)
    pipe.execute()
    return time.perf_counter() - start


def check_data(client: redis.Redis, store: Store, people: int, days: list[date]) -> list[str]:
    """Week/month/all sums equal the day sums, members are everyone in every set."""
    problems = []
    probe = [f"U{i:07d}" for i in (0, 1, people // 2, people - 1)]
    for metric in METRICS:
        for b in buckets_for_day(days[0]):
            size = client.zcard(store.keys.board(metric, b))
            if size != people:
                problems.append(f"{store.keys.board(metric, b)} has {size} members, not {people}")
        for user in probe:
            per_day = [client.zscore(store.keys.board(metric, buckets_for_day(d)[0]), user) or 0.0
                       for d in days]
            total = client.zscore(store.keys.board(metric, buckets_for_day(days[0])[3]), user)
            if abs(sum(per_day) - (total or 0.0)) > 1e-6 * max(1.0, abs(sum(per_day))):
                problems.append(f"all-time {metric} of {user}: {total} != sum {sum(per_day)}")
    return problems


def response_text(body: dict) -> str:
    parts = []
    for block in body.get("blocks", []):
        if isinstance(block.get("text"), dict):
            parts.append(block["text"].get("text", ""))
        for f in block.get("fields", []) or []:
            parts.append(f.get("text", ""))
        for e in block.get("elements", []) or []:
            text = e.get("text", "")
            parts.append(text.get("text", "") if isinstance(text, dict) else text)
    return "\n".join(parts)


def check_board(client: redis.Redis, store: Store, period: str, body: dict,
                people: int) -> list[str]:
    """The answer's top names and the viewer's rank agree with Redis."""
    text = response_text(body)
    problems = []
    bucket = bucket_for_period(period, store.tz)
    tokens_key, points_key = store.keys.board("tokens", bucket), store.keys.board("points", bucket)
    for key in (tokens_key, points_key):
        best = client.zrevrange(key, 0, 0, withscores=True)[0][1]
        leaders = [m.decode() for m in client.zrangebyscore(key, best, best)]
        if not any(f"Person {who}" in text for who in leaders):
            problems.append(f"{period}: no top member of {key} ({leaders[:3]}) shown")
    viewer = f"U{VIEWER_INDEX:07d}"
    score = client.zscore(tokens_key, viewer)
    rank = 1 + client.zcount(tokens_key, f"({score}", "+inf")
    wanted = f"#{rank} of {people} by usage"
    if wanted not in text:
        found = re.search(r"#\d+ of \d+ by usage", text)
        problems.append(f"{period}: expected {wanted!r}, got {found and found.group(0)!r}")
    return problems


def measure(conn: KeepAlive, redis_plain: redis.Redis, timed: Any, period: str, n: int,
            cold: bool, tag: str) -> dict[str, Any]:
    acks, e2e, sends = [], [], []
    commands: Counter[str] = Counter()
    redis_plain.slowlog_reset()
    last_body = None
    for i in range(n):
        if cold:
            redis_plain.incr("tb:{default}:gen")
        name = f"{tag}-{period}-{i}"
        body, headers = signed_command(period, timed_url(timed, name),
                                       user_id=f"U{VIEWER_INDEX:07d}")
        sends0 = CountingConnection.sends
        t0 = time.perf_counter()
        status, raw = conn.post("/slack/events", body, headers)
        t1 = time.perf_counter()
        if status != 200:
            raise RuntimeError(f"/leaderboard {period}: HTTP {status} {raw[:200]!r}")
        arrived = timed.wait(name)
        acks.append(t1 - t0)
        e2e.append(arrived - t0)
        time.sleep(0.005)  # let the lazy listener's thread finish its bookkeeping
        sends.append(CountingConnection.sends - sends0)
        last_body = timed_body(timed, name)
    log = redis_plain.slowlog_get(1_000_000)
    slowest = None
    for entry in log:
        if entry.get("client_name", b"") in (BENCH_CLIENT, BENCH_CLIENT.encode()):
            continue
        cmd = entry["command"]
        cmd = cmd.decode(errors="replace") if isinstance(cmd, bytes) else str(cmd)
        commands[cmd.split()[0].upper()] += 1
        if slowest is None or entry["duration"] > slowest[0]:
            slowest = (entry["duration"], cmd[:90])
    return {"ack": acks, "e2e": e2e, "round_trips": sum(sends) / n,
            "commands": {k: v / n for k, v in commands.items()},
            "commands_per_read": sum(commands.values()) / n, "slowest": slowest,
            "body": last_body, "slowlog_len": len(log)}


def _bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


def timed_url(timed: Any, name: str) -> str:
    return timed.base + name


def timed_body(timed: Any, name: str) -> dict:
    for n, body in timed:
        if n == name:
            return body
    raise KeyError(name)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(__doc__.splitlines()[0], argv)
    people = 10_000 if args.quick else 100_000
    ndays = 30
    cold_reps = 8 if args.quick else 20  # a cold read at 100k people takes ~2.5 s
    warm_reps = 10 if args.quick else 30
    today = datetime.now(UTC).date()
    days = [today - timedelta(days=k) for k in range(ndays)]
    print(f"== leaderboard: {people:,} people x {ndays} days, {cold_reps} cold + {warm_reps} "
          f"warm requests per period ({machine()})")
    results: dict[str, Any] = {}
    with private_redis() as (server, client), slack_stub() as stub, \
            tempfile.TemporaryDirectory() as tmp:
        client.client_setname(BENCH_CLIENT)
        print(f"   {redis_version(client)}")
        for i in range(people):
            stub.add_user(f"U{i:07d}", real_name=f"Person U{i:07d}", tz="UTC")
        stub.add_user("U0VIEWER", real_name="Viewer", tz="UTC")
        app = start_app(server.url, stub, Path(tmp), redis_client=counting_client(server.url))
        try:
            store = app.deps.store
            secs = populate(client, store, people, days)
            mem = client.info("memory")["used_memory"]
            print(f"   populated {client.dbsize():,} keys in {secs:.1f} s "
                  f"(used_memory {mem / 2**20:,.0f} MiB; day hashes and seen keys skipped)")
            problems = check_data(client, store, people, days)
            timed = time_responses(stub)
            timed.base = stub.response_url("")
            conn = KeepAlive(app.port)
            # warm up every period once: code paths, the users.info name cache
            for period in PERIODS:
                measure(conn, client, timed, period, 1, cold=True, tag="warmup")
                body = timed_body(timed, f"warmup-{period}-0")
                problems += check_board(client, store, period, body, people)
            print("   sanity: " + ("boards match Redis (top names, viewer rank, sums)"
                                   if not problems else f"PROBLEMS {problems}"))
            client.config_set("slowlog-max-len", 1_000_000)
            client.config_set("slowlog-log-slower-than", 0)
            print(f"   {'period':9s} {'mode':4s} {'ack p50':>11s} {'ack p99':>11s} "
                  f"{'e2e p50':>11s} {'e2e p99':>11s} {'RTT/read':>8s} {'cmds/read':>9s}  "
                  "slowest command")
            worst = (0, "")
            for period in PERIODS:
                for mode in ("cold", "warm"):
                    reps = cold_reps if mode == "cold" else warm_reps
                    r = measure(conn, client, timed, period, reps, cold=mode == "cold",
                                tag=mode)
                    results[f"{period}/{mode}"] = r
                    slow_us, slow_cmd = r["slowest"] or (0, "")
                    worst = max(worst, (slow_us, f"{slow_cmd} ({period}, {mode})"))
                    print(f"   {period:9s} {mode:4s} {ms(percentile(r['ack'], 50))} "
                          f"{ms(percentile(r['ack'], 99))} {ms(percentile(r['e2e'], 50))} "
                          f"{ms(percentile(r['e2e'], 99))} {r['round_trips']:8.1f} "
                          f"{r['commands_per_read']:9.1f}  {slow_us} us {slow_cmd}")
            # the same ZRANGE pages with nothing else running (no bot parsing on the
            # other core): separates the command's own cost from contention
            isolated = []
            for period in ("today", "all"):
                bucket = bucket_for_period(period, store.tz)
                client.slowlog_reset()
                for metric in ("points", "tokens"):
                    for start in range(0, people, READ_CHUNK):
                        client.zrange(store.keys.board(metric, bucket), start,
                                      start + READ_CHUNK - 1, withscores=True)
                durations = [e["duration"] for e in client.slowlog_get(100_000)
                             if b"ZRANGE" in _bytes(e["command"]).upper()]
                isolated.append((period, percentile(durations, 50), max(durations)))
            client.config_set("slowlog-log-slower-than", 10_000)
            print("   commands per cold read (week): "
                  + ", ".join(f"{k} {v:g}" for k, v in sorted(
                      results["week/cold"]["commands"].items())))
            print("   commands per warm read (week): "
                  + ", ".join(f"{k} {v:g}" for k, v in sorted(
                      results["week/warm"]["commands"].items())))
            print(f"   slowest single Redis command: {worst[0]} us, {worst[1]} "
                  f"(target <= 10 ms: {'met' if worst[0] <= 10_000 else 'MISSED'})")
            for period, med, top in isolated:
                print(f"   isolated ZRANGE page of {READ_CHUNK} ({period}, nothing else "
                      f"running): median {med} us, max {top} us")
            # where a cold read's time goes, in process
            print("   in-process cold read parts (median of 3):")
            for period in ("today", "all"):
                bucket = bucket_for_period(period, store.tz)
                t_read, t_rank = [], []
                for _ in range(3):
                    t0 = time.perf_counter()
                    totals = store.reads.period_totals(bucket)
                    t1 = time.perf_counter()
                    rank_board(totals, top_n=10, efficiency_min_tokens=100_000)
                    t2 = time.perf_counter()
                    t_read.append(t1 - t0)
                    t_rank.append(t2 - t1)
                print(f"     {period:6s} Store.reads.period_totals {ms(percentile(t_read, 50))}, "
                      f"rank_board {ms(percentile(t_rank, 50))} ({len(totals):,} people)")
            conn.close()
        finally:
            app.stop()
    return results


if __name__ == "__main__":
    main()
