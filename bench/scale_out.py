"""Scale-out: ingest events/s and board-read latency with 1 and 3 `tokenboard serve`
processes, on one Redis and on a three-primary Redis Cluster.

Each configuration starts its Redis (an EmbeddedRedis, or a LocalCluster of three
primaries without replicas), makes one ingest token in each of six workspaces (two whose
hash-tag slot lives on each primary of the cluster; the same names on one Redis), then
starts N real `tokenboard serve` processes (`python -m bot serve`, INGEST_RATE_LIMIT=0).

Load, for --duration seconds: one sender thread per workspace, each on a keep-alive
connection to process (sender mod N), posting batches of 500 usage events (2,000 people
per workspace, every id new) with its workspace's token; events/s counts acknowledged
events. Meanwhile one reader thread in this process reads today's board of the
workspaces in turn (`Leaderboards.period_board`, the code `/leaderboard` runs, with an
empty cache each time: a Redis read of the day's sorted sets and the ranking) over its own
client of the same Redis: board p50/p99 are of those reads, under the load.
Load generator, reader and servers share the machine's cores.

    .venv/bin/python -m bench.scale_out [--quick] [--duration S]
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from redis.cluster import key_slot

from bench._common import (
    BOT_TOKEN,
    SIGNING_SECRET,
    KeepAlive,
    ingest_body,
    machine,
    percentile,
    slack_stub,
)
from bot.boards.leaderboard import Leaderboards
from bot.core.settings import Settings
from bot.runtime.app import build_deps
from bot.runtime.app import redis_client as app_redis_client
from bot.store.embedded import CLUSTER_SLOTS, EmbeddedRedis, LocalCluster, free_port
from bot.store.keys import Keys
from tests.serve_processes import start, stop_all, wait_healthy

BATCH, PEOPLE, PER_PRIMARY, PRIMARIES = 500, 2000, 2, 3


def workspaces() -> list[str]:
    """PER_PRIMARY names for each third of the slots (LocalCluster's primaries)."""
    share = CLUSTER_SLOTS // PRIMARIES
    names: list[str] = []
    for primary in range(PRIMARIES):
        first, last = primary * share, (primary + 1) * share - 1
        found = (f"T{i:05d}" for i in range(100_000)
                 if first <= key_slot(Keys(f"T{i:05d}").prefix.encode()) <= last)
        names += [next(found) for _ in range(PER_PRIMARY)]
    return names


@contextlib.contextmanager
def backend(kind: str, tmp: Path) -> Iterator[str]:
    """The Redis URL of a fresh single server or three-primary cluster."""
    if kind == "single":
        with EmbeddedRedis(tmp / "redis", port=free_port(), appendonly=False) as server:
            yield server.url
    else:
        with LocalCluster(tmp / "cluster", masters=PRIMARIES) as cluster:
            yield cluster.url


def run(kind: str, processes: int, duration: float, stub_url: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tokenboard-scale-") as tmp_name, \
            backend(kind, Path(tmp_name)) as url:
        tmp = Path(tmp_name)
        client = app_redis_client(url, 10.0, cluster=None)
        base = Settings(redis_url=url, data_dir=tmp, timezone="UTC", slack_api_url=stub_url)
        names = workspaces()
        deps = {ws: build_deps(replace(base, workspace=ws), client) for ws in names}
        tokens = {ws: deps[ws].senders.create("bench") for ws in names}
        servers = [start(["serve"], url, stub_url, tmp, f"serve-{i}",
                         INGEST_RATE_LIMIT="0", TOKENBOARD_TIMEZONE="UTC",
                         SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET)
                   for i in range(processes)]
        try:
            wait_healthy(servers, timeout=90)
            return load(names, tokens, [s.port for s in servers], deps, duration)
        finally:
            stop_all(servers)
            client.close()


def load(names: list[str], tokens: dict[str, str], ports: list[int], deps: dict[str, Any],
         duration: float) -> dict[str, Any]:
    stop = threading.Event()
    acked = [0] * len(names)
    failed = [0] * len(names)
    reads: list[float] = []
    ts = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()

    def sender(k: int) -> None:
        conn = KeepAlive(ports[k % len(ports)])
        headers = {"Content-Type": "application/json",
                   "Authorization": f"Bearer {tokens[names[k]]}"}
        number = 0
        while not stop.is_set():
            events = [{"id": f"b{number}-{i}", "type": "usage", "ts": ts, "tool": "bench",
                       "user": f"U{(number * BATCH + i) % PEOPLE:07d}", "tokens": 100 + i}
                      for i in range(BATCH)]
            status, _ = conn.post("/ingest", ingest_body(events), headers)
            if status == 200:
                acked[k] += BATCH
            else:
                failed[k] += 1
            number += 1
        conn.close()

    def reader() -> None:
        turn = 0
        while not stop.is_set():
            store = deps[names[turn % len(names)]].store
            began = time.perf_counter()
            Leaderboards(store).period_board("today")  # a fresh cache: Redis read + ranking
            reads.append(time.perf_counter() - began)
            turn += 1

    threads = [threading.Thread(target=sender, args=(k,)) for k in range(len(names))]
    threads.append(threading.Thread(target=reader))
    began = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(duration)
    stop.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    return {"events_per_s": sum(acked) / elapsed, "failed_batches": sum(failed),
            "board_reads": len(reads), "board_p50_ms": percentile(reads, 50) * 1000,
            "board_p99_ms": percentile(reads, 99) * 1000}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3-second runs")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds of load each")
    args = parser.parse_args(argv)
    duration = 3.0 if args.quick else args.duration
    print(f"scale-out: {machine()}; {len(workspaces())} workspaces, batches of {BATCH}, "
          f"{duration:.0f} s per configuration")
    results: dict[str, Any] = {}
    with slack_stub() as stub:
        for kind in ("single", "cluster"):
            for processes in (1, 3):
                r = run(kind, processes, duration, stub.url)
                results[f"{kind}/{processes}"] = r
                print(f"  {kind:<7} Redis, {processes} serve: {r['events_per_s']:>9,.0f} "
                      f"events/s ({r['failed_batches']} batches refused); board read p50 "
                      f"{r['board_p50_ms']:.1f} ms, p99 {r['board_p99_ms']:.1f} ms "
                      f"({r['board_reads']} reads)")
    return results


if __name__ == "__main__":
    main()
