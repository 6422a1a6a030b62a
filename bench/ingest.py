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
import pstats
import random
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import redis

from bench._common import (
    INGEST_HEADERS,
    KeepAlive,
    ingest_body,
    machine,
    parse_args,
    post_environ,
    private_redis,
    redis_version,
    run_concurrently,
    slack_stub,
    start_app,
)
from bench.ingest_baseline import baseline_run, differences, snapshot
from bot.core.config import BoardConfig
from bot.intake.ingest import parse_batch
from bot.sources.reports import as_counts, validate_report

BATCH = 500
SENDERS = 2
TOOLS = ("meshclaw", "copilot", "cursor", "claude-code")
KINDS = ("pr_merged", "deploy", "incident_resolved", "ticket_resolved", "review", "commit")


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
        app.wsgi(post_environ("/ingest", body, "application/json"), start_response)
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
