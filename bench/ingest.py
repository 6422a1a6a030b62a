"""Ingest throughput: events/s through `POST /ingest` vs the same Redis writes from redis-py.

App side: the real Flask app (Bolt + /ingest) under one in-process gunicorn worker
(`bot.web.server.Server`), batches of 500
usage + outcome events for ~2,000 people, two senders each on one keep-alive
`http.client.HTTPConnection`. Baseline: a plain redis-py loop issuing the writes that
the counting scripts (lua/record.lua) perform, one non-transactional pipeline per 500-event batch,
also two sender threads, same events, same Redis, same run (database flushed between).
The two end states are compared so the baseline provably does the same writes.

Then a breakdown of where the app spends its time per event (in process, no HTTP).

    .venv/bin/python -m bench.ingest [--quick]
"""

from __future__ import annotations

import cProfile
import io
import json
import math
import pstats
import random
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Any

import redis

from bench._common import (
    INGEST_HEADERS,
    INGEST_TOKEN,
    KeepAlive,
    ingest_body,
    machine,
    parse_args,
    private_redis,
    redis_version,
    slack_stub,
    start_app,
)
from bot.core.config import BoardConfig
from bot.core.periods import buckets_for_day
from bot.intake.ingest import parse_batch
from bot.sources.reports import as_counts, validate_report
from bot.store.senders import parse_env_tokens
from bot.store.store import Store

BATCH = 500
SENDERS = 2
TOOLS = ("meshclaw", "copilot", "cursor", "claude-code")
KINDS = ("pr_merged", "deploy", "incident_resolved", "ticket_resolved", "review", "commit")
PREFIX = "tb:{default}:"
SENDER_NAME = next(iter(parse_env_tokens((INGEST_TOKEN,))))  # what the app scopes ids to


# -- workload -----------------------------------------------------------------------------

def make_events(n: int, people: int, now: datetime, seed: int = 7,
                id_prefix: str = "e") -> list[dict]:
    """n events (~75% usage, 25% outcome) by `people` users over the last three days."""
    rng = random.Random(seed)
    users = [f"U{i:07d}" for i in range(people)]
    events = []
    for i in range(n):
        user = rng.choice(users)
        ts = (now - timedelta(seconds=rng.randint(60, 3 * 86400))).isoformat()
        ts = ts.replace("+00:00", "Z")
        if rng.random() < 0.75:
            tokens = int(rng.lognormvariate(9, 1.2))
            events.append({"id": f"{id_prefix}{i}", "type": "usage", "user": user, "ts": ts,
                           "tool": rng.choice(TOOLS), "tokens": tokens,
                           "cost_usd": round(tokens * 3e-6, 6), "requests": rng.randint(1, 5),
                           "input_tokens": tokens * 3 // 4, "output_tokens": tokens // 4})
        else:
            events.append({"id": f"{id_prefix}{i}", "type": "outcome", "user": user, "ts": ts,
                           "kind": rng.choice(KINDS), "count": rng.choice((1, 1, 1, 2, 3))})
    return events


def split_for_senders(events: list[dict], senders: int) -> list[list[list[dict]]]:
    """Each sender gets its own users (so per-person sums have one order), in 500-batches."""
    lanes: list[list[dict]] = [[] for _ in range(senders)]
    for ev in events:
        lanes[int(ev["user"][1:]) % senders].append(ev)
    return [[lane[i:i + BATCH] for i in range(0, len(lane), BATCH)] for lane in lanes]


def run_concurrently(work: Sequence[Callable[[], None]]) -> float:
    errors: list[BaseException] = []

    def wrap(fn: Callable[[], None]) -> None:
        try:
            fn()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=wrap, args=(fn,)) for fn in work]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return elapsed


# -- the app over HTTP ----------------------------------------------------------------------

def app_run(port: int, lanes: list[list[bytes]]) -> tuple[float, int]:
    accepted = [0] * len(lanes)

    def sender(k: int) -> Callable[[], None]:
        def go() -> None:
            conn = KeepAlive(port)
            try:
                for body in lanes[k]:
                    status, raw = conn.post("/ingest", body, INGEST_HEADERS)
                    if status != 200:
                        raise RuntimeError(f"/ingest answered {status}: {raw[:300]!r}")
                    answer = json.loads(raw)
                    if answer["rejected"]:
                        raise RuntimeError(f"rejected events: {answer['rejected'][:3]}")
                    accepted[k] += answer["accepted"]
            finally:
                conn.close()
        return go

    elapsed = run_concurrently([sender(k) for k in range(len(lanes))])
    return elapsed, sum(accepted)


# -- the baseline: the same writes, plain redis-py --------------------------------------------

class PlainWriter:
    """What the counting scripts (lua/record.lua) do, as plain pipelined commands.

    The scripts' early exits (stale configuration, already seen) cannot branch inside a
    pipeline; the guard reads are issued anyway and, every event being new, every write
    happens, as in the scripts. Event ids and day counts go into simpler forms (one
    HSETNX into a hash per sender-day, HINCRBYs into a hash per person-day): the
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
                pipe.expire(day_key, ttls[0])
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
    day remembers, and every person's day counts (read from the app's packed buckets with
    `Store.reads.day_counts`, from the baseline's plain hashes)."""
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


# -- where the app's time goes (in process) ---------------------------------------------------

def breakdown(app: Any, client: redis.Redis, batches: list[list[dict]]) -> dict[str, float]:
    """Seconds per phase of ingest_events over `batches`, run directly (no HTTP)."""
    store = app.deps.store
    config, version = _config(store)
    kinds = frozenset(config.outcomes)
    totals = {"json.loads (parse_batch)": 0.0, "validate_report (pydantic)": 0.0,
              "Store.counting.record (all of it)": 0.0}
    for batch in batches:
        body = ingest_body(batch)
        t0 = time.perf_counter()
        events = parse_batch(body)
        t1 = time.perf_counter()
        now = datetime.now(UTC)
        valid = [(as_counts(validate_report(raw, now=now, retention_days=store.retention_days,
                                          known_kinds=kinds)), raw["user"]) for raw in events]
        t3 = t2 = time.perf_counter()
        store.counting.record(valid, config, *version)
        t4 = time.perf_counter()
        totals["json.loads (parse_batch)"] += t1 - t0
        totals["validate_report (pydantic)"] += t2 - t1
        totals["Store.counting.record (all of it)"] += t4 - t3
    return totals


def _config(store: Any) -> tuple[BoardConfig, tuple[int, ...]]:
    """The stored configuration (and its version, where the store versions it)."""
    versioned = getattr(store, "load_config_versioned", None)
    if versioned is not None:
        config, version = versioned()
        return config, (version,)
    return store.configs.load(), ()


def profile_ingest(app: Any, batches: list[list[dict]], top: int = 14) -> str:
    """cProfile of the /ingest WSGI path (the Flask app), in process, no sockets."""
    bodies = [ingest_body(b) for b in batches]
    statuses: list[str] = []

    def start_response(status: str, headers: list, exc_info: Any = None) -> None:
        statuses.append(status)

    profiler = cProfile.Profile()
    profiler.enable()
    for body in bodies:
        environ = {"PATH_INFO": "/ingest", "REQUEST_METHOD": "POST",
                   "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body),
                   "wsgi.url_scheme": "http",
                   "SERVER_NAME": "bench", "SERVER_PORT": "80",
                   "CONTENT_TYPE": "application/json",
                   "HTTP_AUTHORIZATION": INGEST_HEADERS["Authorization"]}
        app.wsgi(environ, start_response)
    profiler.disable()
    if any(not s.startswith("200") for s in statuses):
        raise RuntimeError(f"/ingest answered {statuses[:3]} while profiling")
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(r"bot/|redis/client.py|redis/connection.py", top)
    return out.getvalue()


# -- main -----------------------------------------------------------------------------------

def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    args = parse_args(__doc__.splitlines()[0], argv)
    total = 10_000 if args.quick else 50_000
    people = 2_000
    now = datetime.now(UTC)
    print(f"== ingest: {total:,} events, {people:,} people, batches of {BATCH}, "
          f"{SENDERS} senders ({machine()})")
    events = make_events(total, people, now)
    warm = make_events(2 * BATCH, people, now, seed=99, id_prefix="warm")
    lanes = split_for_senders(events, SENDERS)
    bodies = [[ingest_body(batch) for batch in lane] for lane in lanes]
    config = BoardConfig()
    usage_n = sum(ev["type"] == "usage" for ev in events)

    with private_redis() as (server, client), slack_stub() as stub:
        import tempfile
        from pathlib import Path

        with tempfile.TemporaryDirectory() as tmp:
            app = start_app(server.url, stub, Path(tmp))
            try:
                print(f"   {redis_version(client)}; usage {usage_n:,}, "
                      f"outcome {total - usage_n:,}")
                # warm up: scripts loaded, connections open, code paths imported
                for lane in split_for_senders(warm, SENDERS):
                    app_run(app.port, [[ingest_body(b) for b in lane]])
                baseline_run(lambda: redis.Redis.from_url(server.url), config,
                             split_for_senders(warm, SENDERS))
                client.flushdb()

                # the app, over HTTP
                before = client.info("commandstats")
                app_time, accepted = app_run(app.port, bodies)
                after = client.info("commandstats")
                if accepted != total:
                    raise RuntimeError(f"app accepted {accepted} of {total} events")
                app_state = snapshot(client, app=True)
                evalsha = (after.get("cmdstat_evalsha", {}).get("usec", 0)
                           - before.get("cmdstat_evalsha", {}).get("usec", 0))
                client.flushdb()

                # the baseline, same events, same Redis
                before = client.info("commandstats")
                base_time = baseline_run(lambda: redis.Redis.from_url(server.url), config,
                                         lanes)
                after = client.info("commandstats")
                base_state = snapshot(client, app=False)
                base_cmds = sum(v["calls"] for v in after.values()) - sum(
                    v["calls"] for v in before.values())
                base_usec = sum(v["usec"] for v in after.values()) - sum(
                    v["usec"] for v in before.values())
                problems = differences(app_state, base_state)
                client.flushdb()

                app_rate, base_rate = total / app_time, total / base_time
                print(f"   app  POST /ingest : {app_rate:9,.0f} events/s "
                      f"({app_time:.2f} s for {total:,})")
                print(f"   plain redis-py    : {base_rate:9,.0f} events/s "
                      f"({base_time:.2f} s, {base_cmds:,} commands)")
                print(f"   ratio app/plain   : {app_rate / base_rate:.2f}x  (target >= 0.5x: "
                      f"{'met' if app_rate / base_rate >= 0.5 else 'MISSED'})")
                print(f"   Redis CPU in commands: app (EVALSHA, incl. script) "
                      f"{evalsha / total:.1f} us/event; plain {base_usec / total:.1f} us/event")
                print("   end states equal  : "
                      + ("yes (every key, member and score)" if not problems
                         else f"NO: {problems[:5]}"))

                # breakdown and profile of the app's own work, in process
                sample = [b for lane in lanes for b in lane][: (8 if args.quick else 30)]
                phases = breakdown(app, client, sample)
                n = sum(len(b) for b in sample)
                print(f"   in-process breakdown over {n:,} events (us/event):")
                for name, secs in phases.items():
                    print(f"     {name:36s} {secs / n * 1e6:7.1f}")
                client.flushdb()
                prof = profile_ingest(app, sample[: 6 if args.quick else 20])
                client.flushdb()
                print("   cProfile of POST /ingest in process (by own time, then cumulative):")
                for line in prof.strip().splitlines():
                    if line.strip():
                        print("     " + line.strip())
            finally:
                app.stop()
    return {"app_events_per_s": app_rate, "plain_events_per_s": base_rate,
            "ratio": app_rate / base_rate}


if __name__ == "__main__":
    main()
