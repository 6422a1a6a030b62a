"""Monday morning: 16 people typing `/leaderboard` while reports stream in, at 100,000
people x 30 days.

The app runs as in production: `tokenboard serve` in its own process(es), against a
private redis-server and the Slack stub. The stored boards (every day, week, month and
all-time of 100,000 people x 30 days) are written directly as `bench.leaderboard` does;
the whole-population figures are computed once up front, as the worker keeps them.

Two phases in one run, both under the same ingest load (signed-in `/ingest` batches of
50 events, paced to 2,000 events/s, 10 % of them outcomes):
1. 16 users, each: a signed `/leaderboard today|week|month`, the ack timed, the board
   timed until it reaches the stub's response_url, then 0.2 s of thought;
2. the same 16 users against a Bolt app that only acks, served the same way.
Also: the ingest rate reached and its answers, and every Redis command over 10 ms
(SLOWLOG with slowlog-log-slower-than 10000).

    .venv/bin/python -m bench.monday [--quick]
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench._common import (
    BOT_TOKEN,
    INGEST_HEADERS,
    INGEST_TOKEN,
    SIGNING_SECRET,
    KeepAlive,
    machine,
    ms,
    parse_args,
    percentile,
    private_redis,
    redis_version,
    signed_command,
    slack_stub,
    stop_processes,
    time_responses,
)
from bench.leaderboard import populate
from bot.boards.leaderboard import Leaderboards
from bot.core.config import BoardConfig
from bot.core.periods import bucket_for_period
from bot.store.embedded import free_port
from bot.store.store import Store

USERS = 16
THINK = 0.2  # seconds each user waits between two boards
INGEST_RATE = 2000  # events/s asked for
BATCH = 50
PERIODS = ("today", "week", "month")


def serve(args: list[str], env: dict[str, str], port: int) -> subprocess.Popen:
    """A server process; returns once it answers /healthz (or the port accepts)."""
    proc = subprocess.Popen(args, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{args[0]} exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            conn = KeepAlive(port, timeout=1)
            conn.conn.request("GET", "/healthz")
            conn.conn.getresponse().read()
            conn.close()
            return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"{args[0]} did not start on port {port}")


class Ingest(threading.Thread):
    """Paced /ingest batches until stopped; counts events sent and answers."""

    def __init__(self, port: int, people: int, rate: float, seed: int) -> None:
        super().__init__(daemon=True, name=f"ingest-{seed}")
        self.port, self.people, self.rate = port, people, rate
        self.rng = random.Random(seed)
        self.seed = seed
        self.halt = threading.Event()
        self.sent = 0
        self.answers: Counter[int] = Counter()
        self.started = self.ended = 0.0

    def batch(self, n: int) -> bytes:
        now = datetime.now(UTC).isoformat()
        events = []
        for _ in range(BATCH):
            n += 1
            user = f"U{self.rng.randrange(self.people):07d}"
            if self.rng.random() < 0.1:
                events.append({"type": "outcome", "id": f"m{self.seed}-{n}", "user": user,
                               "ts": now, "kind": "pr_merged"})
            else:
                tokens = self.rng.randint(500, 50_000)
                events.append({"type": "usage", "id": f"m{self.seed}-{n}", "user": user,
                               "ts": now, "tool": "meshclaw", "tokens": tokens,
                               "cost_usd": round(tokens * 3e-6, 6)})
        return json.dumps({"events": events}).encode()

    def run(self) -> None:
        conn = KeepAlive(self.port)
        interval = BATCH / self.rate
        self.started = next_at = time.perf_counter()
        while not self.halt.is_set():
            try:
                status, _ = conn.post("/ingest", self.batch(self.sent), INGEST_HEADERS)
            except OSError:
                conn.close()
                conn = KeepAlive(self.port)
                status = 0
            self.answers[status] += 1
            if status == 200:
                self.sent += BATCH
            next_at += interval
            delay = next_at - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            else:
                next_at = time.perf_counter()  # behind: do not burst to catch up
        self.ended = time.perf_counter()
        conn.close()


class User(threading.Thread):
    def __init__(self, port: int, timed: Any, stub_url_for: Any, who: str, tag: str,
                 waits: bool, until: float, seed: int) -> None:
        super().__init__(daemon=True, name=f"user-{tag}")
        self.port, self.timed, self.url_for = port, timed, stub_url_for
        self.who, self.tag, self.waits, self.until = who, tag, waits, until
        self.rng = random.Random(seed)
        self.acks: list[float] = []
        self.boards: list[float] = []
        self.errors = 0

    def run(self) -> None:
        conn = KeepAlive(self.port)
        i = 0
        while time.perf_counter() < self.until:
            i += 1
            name = f"{self.tag}-{i}"
            body, headers = signed_command(self.rng.choice(PERIODS), self.url_for(name),
                                           user_id=self.who)
            t0 = time.perf_counter()
            status, _ = conn.post("/slack/events", body, headers)
            t1 = time.perf_counter()
            if status != 200:
                self.errors += 1
                continue
            self.acks.append(t1 - t0)
            if self.waits:
                try:
                    self.boards.append(self.timed.wait(name, timeout=30) - t0)
                except TimeoutError:
                    self.errors += 1
            time.sleep(THINK)
        conn.close()


def run_phase(port: int, timed: Any, stub: Any, people: int, seconds: float, tag: str,
              waits: bool) -> list[User]:
    until = time.perf_counter() + seconds
    users = [User(port, timed, stub.response_url, f"U{(i * 6151) % people:07d}",
                  f"{tag}{i}", waits, until, i) for i in range(USERS)]
    for u in users:
        u.start()
    for u in users:
        u.join()
    return users


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(__doc__.splitlines()[0], argv)
    people = 20_000 if args.quick else 100_000
    n_days = 7 if args.quick else 30
    seconds = 20 if args.quick else 60
    print(f"== monday: {USERS} users on /leaderboard under {INGEST_RATE:,} events/s of "
          f"ingest, {people:,} people x {n_days} days ({machine()})")
    with private_redis() as (server, client), slack_stub() as stub, \
            tempfile.TemporaryDirectory() as tmp:
        today = datetime.now(UTC).date()
        days = [today - timedelta(days=d) for d in range(n_days - 1, -1, -1)]
        store = Store(client)
        for i in range(people):
            stub.add_user(f"U{i:07d}", real_name=f"Person U{i:07d}", tz="UTC")
        took = populate(client, store, people, days)
        print(f"   populated in {took:.1f} s; {redis_version(client)}; used memory "
              f"{client.info('memory')['used_memory'] / 2**20:,.0f} MiB")
        config = BoardConfig()
        lb = Leaderboards(store)
        t0 = time.perf_counter()
        for period in PERIODS:  # what the worker keeps fresh
            lb.refresh_population(bucket_for_period(period, store.tz, datetime.now(UTC)),
                                  config)
        print(f"   whole-population figures for {len(PERIODS)} periods: "
              f"{(time.perf_counter() - t0) * 1000:.0f} ms (the worker's job, every 30 s)")
        env = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
               "SLACK_API_URL": stub.url, "REDIS_URL": server.url,
               "INGEST_TOKENS": f"bench:{INGEST_TOKEN}", "INGEST_RATE_LIMIT": "0",
               "TOKENBOARD_TIMEZONE": "UTC", "TOKENBOARD_DATA_DIR": str(Path(tmp) / "data"),
               "LOG_LEVEL": "WARNING"}
        ours_port, mini_port = free_port(), free_port()
        ours = serve([sys.executable, "-m", "bot", "serve"], {**env, "PORT": str(ours_port)},
                     ours_port)
        mini = serve([sys.executable, "-m", "bench.ack_only"],
                     {**env, "PORT": str(mini_port)}, mini_port)
        timed = time_responses(stub)
        client.config_set("slowlog-log-slower-than", 10_000)
        client.config_set("slowlog-max-len", 1_000_000)  # the default keeps only 128
        client.slowlog_reset()
        feeders = [Ingest(ours_port, people, INGEST_RATE / 4, seed) for seed in range(4)]
        try:
            for f in feeders:
                f.start()
            time.sleep(2)  # ingest at speed before anyone types
            ours_users = run_phase(ours_port, timed, stub, people, seconds, "o", True)
            mini_users = run_phase(mini_port, timed, stub, people, seconds / 2, "m", False)
        finally:
            for f in feeders:
                f.halt.set()
            for f in feeders:
                f.join()
            stop_processes(ours, mini)
        slow = client.slowlog_get(10_000)
    sent = sum(f.sent for f in feeders)
    elapsed = max(f.ended for f in feeders) - min(f.started for f in feeders)
    answers = sum((f.answers for f in feeders), Counter())
    acks = [x for u in ours_users for x in u.acks]
    boards = [x for u in ours_users for x in u.boards]
    base = [x for u in mini_users for x in u.acks]
    errors = sum(u.errors for u in ours_users)
    worst = max((e["duration"] for e in slow), default=0)
    ratio = percentile(acks, 99) / percentile(base, 99)
    print(f"   ingest: {sent / elapsed:,.0f} events/s reached (asked {INGEST_RATE:,}); "
          f"answers {dict(answers)}")
    print(f"   {'case':30s} {'n':>6s} {'p50':>11s} {'p99':>11s}")
    print(f"   {'ack, ours':30s} {len(acks):6d} {ms(percentile(acks, 50))} "
          f"{ms(percentile(acks, 99))}")
    print(f"   {'ack, Bolt app that only acks':30s} {len(base):6d} {ms(percentile(base, 50))} "
          f"{ms(percentile(base, 99))}")
    print(f"   {'board at response_url, ours':30s} {len(boards):6d} "
          f"{ms(percentile(boards, 50))} {ms(percentile(boards, 99))}")
    print(f"   ack p99 ratio ours / ack-only: {ratio:.2f}x (target <= 1.5x); board p99 "
          f"{percentile(boards, 99) * 1000:.0f} ms (target <= 50 ms); failed requests "
          f"{errors}")
    print(f"   Redis commands over 10 ms: {len(slow)} (slowest {worst / 1000:.1f} ms)")
    kinds: dict[str, list[int]] = {}
    for entry in slow:
        cmd = entry["command"]
        cmd = cmd.decode(errors="replace") if isinstance(cmd, bytes) else str(cmd)
        words = cmd.split()
        kind = " ".join(words[:2]) if words[:1] == ["EVALSHA"] else (words or ["?"])[0]
        kinds.setdefault(kind, []).append(entry["duration"])
    for kind, durations in sorted(kinds.items(), key=lambda kv: -len(kv[1]))[:6]:
        print(f"      {len(durations):5d} x {kind[:60]:60s} slowest "
              f"{max(durations) / 1000:5.1f} ms")
    return {"ingest_events_per_s": sent / elapsed, "ack_p99": percentile(acks, 99),
            "ack_only_p99": percentile(base, 99), "ack_ratio": ratio,
            "board_p50": percentile(boards, 50), "board_p99": percentile(boards, 99),
            "slow_commands": len(slow), "slowest_us": worst, "people": people,
            "days": n_days, "failed": errors, "ingest_answers": dict(answers)}


if __name__ == "__main__":
    main()
