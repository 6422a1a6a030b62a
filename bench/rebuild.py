"""Rescoring after a weight change while reports stream in: 100,000 people x 90 days.

Populate: for each day, a Lua generator writes every person's day counts (tokens and
outcome counts `o:pr_merged`, `o:review`, `o:commit`, packed into the day's buckets with
the scripts' own codec) plus the day's tokens and points sorted sets scored with the
default rules, exactly as the ingest scripts leave them; the week/month/all-time sets
are ZUNIONSTOREd from the days (setup only). A child process then runs the real app and
one sender posting batches of 200 reports to `/ingest` (people and days at random)
throughout. The configuration is saved with pr_merged's weight raised 5 → 8 and commit
made linear, and `rebuild_scores` (→ `Store.rescoring.rebuild_points`) runs. We report its wall
time, the events counted per second during it, the answers by HTTP status (no 503s
expected), and, from SLOWLOG (slowlog-log-slower-than 1 ms), the longest single Redis
command. A few people's new all-time points are checked against Python arithmetic on the
generator's counts plus the outcomes the app accepted for them meanwhile.

    .venv/bin/python -m bench.rebuild [--quick]
"""

from __future__ import annotations

import json
import math
import multiprocessing
import random
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any

import redis

from bench import _common as common
from bench._common import machine, parse_args, private_redis, redis_version
from bot.core.config import BoardConfig, OutcomeRule
from bot.core.periods import buckets_for_day
from bot.intake.scoring import rebuild_scores, save_configuration
from bot.store.events import RECORD
from bot.store.lua import load
from bot.store.rescoring import REBUILD_COPY_SCRIPT, RESCORE
from bot.store.store import Store

# KEYS: 1 tokens day set, 2 points day set, 3 the day's directory of counts;
# ARGV: n, day number, ttl. Writes each person's packed day as the ingest scripts do.
GEN_CHUNK = 5000  # people per generator call
GEN_LUA = load("day_codec") + """
local n, d, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local first = tonumber(ARGV[4] or '0')
local M = 2147483647
local function nxt(x) return (x * 48271) % M end
local t, p = {}, {}
for i = first, n - 1 do
  local member = string.format('U%07d', i)
  local a = nxt(nxt(i + 1) + d * 7919)
  local b = nxt(a)
  local c = nxt(b)
  local tokens = 1000 + a % 200000
  local prs = b % 3
  local reviews = c % 5
  local commits = (a + c) % 30
  local fields = {tokens = tokens}
  local points = 0
  if prs > 0 then fields['o:pr_merged'] = prs
    points = points + 5 * math.sqrt(math.min(prs, 10)) end
  if reviews > 0 then fields['o:review'] = reviews
    points = points + 2 * math.sqrt(math.min(reviews, 10)) end
  if commits > 0 then fields['o:commit'] = commits
    points = points + math.log(1 + math.min(commits, 20)) end
  local st, _, key = day_find(KEYS[3], member)
  local added = day_write(key, member, fields, 0)
  redis.call('EXPIRE', key, ttl)
  lh_grow(KEYS[3], st, added, ttl, user_hash, nil, DAYS_LOAD)
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
        for first in range(0, people, GEN_CHUNK):  # short scripts: Redis stays responsive
            gen(keys=[store.keys.board("tokens", d_b), store.keys.board("points", d_b),
                      store.keys.days(day)],
                args=[min(people, first + GEN_CHUNK), i, 400 * 86400, first])
        for bucket in buckets_for_day(day)[1:]:
            groups.setdefault(bucket, []).append(day)
        if (i + 1) % 30 == 0:
            print(f"   populated day {i + 1}/{len(days)}", flush=True)
    for bucket, members in groups.items():
        for metric in ("tokens", "points"):
            client.zunionstore(store.keys.board(metric, bucket),
                               [store.keys.board(metric, buckets_for_day(d)[0]) for d in members])
    return time.perf_counter() - start


def ingest_during(url: str, people: int, days: list[date], stop: Any, out: Any) -> None:
    """A child process: the real app (waitress, 8 threads) and one keep-alive sender
    posting batches of 200 reports (half usage, half outcomes; people and retained days at
    random, 1 in 4 for the probe people) until `stop` is set. Puts (answers by HTTP status,
    [(time, accepted)] per batch, the probe people's accepted outcomes)."""
    with common.slack_stub() as stub, tempfile.TemporaryDirectory() as tmp:
        app = common.start_app(url, stub, Path(tmp))
        conn = common.KeepAlive(app.port)
        rng = random.Random(5)
        probes = probe_people(people)
        statuses: Counter[int] = Counter()
        timeline: list[tuple[float, int]] = []
        probe: list[tuple[int, int, str, int]] = []
        n = 0
        try:
            while not stop.is_set():
                batch, outcomes = [], []
                for _ in range(200):
                    i = rng.choice(probes) if rng.random() < 0.25 else rng.randrange(people)
                    d = rng.randrange(1, len(days))  # noon of today may lie ahead
                    event = {"id": f"live-{n}", "user": f"U{i:07d}",
                             "ts": datetime.combine(days[d], dtime(12), UTC).isoformat()}
                    n += 1
                    if rng.random() < 0.5:
                        event.update(type="usage", tool="t", tokens=rng.randint(1, 5000))
                    else:
                        kind, count = rng.choice(("pr_merged", "review", "commit")), 1
                        event.update(type="outcome", kind=kind, count=count)
                        if i in probes:
                            outcomes.append((i, d, kind, count))
                    batch.append(event)
                status, body = conn.post("/ingest", common.ingest_body(batch),
                                         common.INGEST_HEADERS)
                statuses[status] += 1
                if status == 200:
                    timeline.append((time.time(), json.loads(body)["accepted"]))
                    probe += outcomes
        finally:
            conn.close()
            app.stop()
    out.put((dict(statuses), timeline, probe))


def probe_people(people: int) -> tuple[int, ...]:
    return (0, 1, people // 2, people - 1)


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
        ctx = multiprocessing.get_context("fork")
        stop, answers = ctx.Event(), ctx.Queue()
        child = ctx.Process(target=ingest_during, args=(_server.url, people, days, stop, answers),
                            daemon=True)
        child.start()
        time.sleep(3)  # the app is up and reports are streaming in
        client.config_set("slowlog-max-len", 1_000_000)
        client.slowlog_reset()
        client.config_set("slowlog-log-slower-than", 1_000)  # every command over 1 ms
        last = [0.0]

        def progress(done: int, total: int) -> None:
            if time.perf_counter() - last[0] > 10 or done == total:
                last[0] = time.perf_counter()
                print(f"   rescored step {done}/{total} (days, then weeks/months/all-time)",
                      flush=True)

        try:
            save_configuration(store, config, by="bench")
            started, wall_start = time.perf_counter(), time.time()
            stats = rebuild_scores(store, progress) or {}
            took, wall_end = time.perf_counter() - started, time.time()
            time.sleep(1)
        finally:
            stop.set()
        statuses, timeline, probe = answers.get(timeout=120)
        child.join()
        client.config_set("slowlog-log-slower-than", 10_000)
        log = client.slowlog_get(1_000_000)
        slowest = max(log, key=lambda e: e["duration"])
        command = slowest["command"]
        command = command.decode() if isinstance(command, bytes) else str(command)
        over = sum(1 for e in log if e["duration"] > 10_000)
        names = {RESCORE.sha: "rescore", REBUILD_COPY_SCRIPT.sha: "copy",
                 RECORD.sha: "record"}
        slow: Counter[str] = Counter()
        for e in log:
            if e["duration"] > 10_000:
                words = e["command"].split(b" ", 2)
                sha = words[1].decode() if words[0] == b"EVALSHA" and len(words) > 1 else ""
                slow[names.get(sha, words[0].decode())] += 1
        print(f"   rebuilt {stats['days']} days, {stats['person_days']:,} person-days, "
              f"{stats['buckets']} sorted sets in {took:.1f} s "
              f"({stats['person_days'] / took:,.0f} person-days/s)")
        during = sum(n for t, n in timeline if wall_start <= t <= wall_end)
        print(f"   ingest meanwhile (one sender over HTTP, batches of 200): {during:,} events "
              f"counted during the rescore = {during / took:,.0f} events/s; answers by "
              f"status over the whole run: {statuses} (503s: {statuses.get(503, 0)})")
        print(f"   longest single Redis command: {slowest['duration']:,} us "
              f"({command[:60]}); commands over 10 ms: {over} (of {len(log):,} over 1 ms) "
              f"(target: none); by command: {dict(slow)}")
        # check the probe people against Python arithmetic on the generator's counts plus
        # the outcomes the app accepted for them during the run
        live: Counter[tuple[int, int, str]] = Counter()
        for i, d, kind, count in probe:
            live[(i, d, kind)] += count
        bad = 0
        for i in probe_people(people):
            expected = 0.0
            for d in range(len(days)):
                prs, reviews, commits = counts(i, d)
                prs += live[(i, d, "pr_merged")]
                reviews += live[(i, d, "review")]
                commits += live[(i, d, "commit")]
                expected += (8 * math.sqrt(min(prs, 10)) + 2 * math.sqrt(min(reviews, 10))
                             + min(commits, 20))
            got = client.zscore(store.keys.board("points", buckets_for_day(today)[3]), f"U{i:07d}")
            bad += not math.isclose(got or 0.0, expected, rel_tol=1e-9, abs_tol=1e-9)
        print("   sanity: " + (f"new all-time points of 4 people (with the {len(probe)} outcomes "
                               "sent for them meanwhile) match Python arithmetic"
                               if not bad else f"{bad} of 4 people MISMATCH"))
        return {"seconds": took, "person_days": stats["person_days"],
                "slowest_us": slowest["duration"], "over_10ms": over,
                "ingest_events_per_s": during / took, "ingest_503": statuses.get(503, 0)}


if __name__ == "__main__":
    main()
