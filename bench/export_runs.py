"""Measured load runs of the throughput benchmarks (`bench.otlp`, `bench.servers`)
against server processes already running, and what makes their exports add up.

`measure`: one run of a load generator (`bench.loadgen`); the CPU seconds of each process
group (read from /proc before and after) as a share of one core, the servers' CPU seconds,
and Redis's own command time (INFO commandstats, `redis_usec`).

`settle`: after a run, wait until `gen` stops moving, then send the run's head and tail
again, so every export issued is counted exactly once (a resent export that was counted
is a duplicate).
"""

from __future__ import annotations

import http.client
import mmap
import time
from dataclasses import dataclass

import redis

from bench._common import cpu_seconds
from bench.loadgen import CONNECTIONS, LoadGen, LoadResult
from bench.otlp_exports import HEADERS, Workload


def redis_usec(client: redis.Redis) -> int:
    """Redis's own time in commands so far (INFO commandstats; a script's inner commands
    are inside its EVALSHA time, so only top-level commands are summed)."""
    inner = {"zincrby", "zadd", "expire", "hincrby", "hincrbyfloat", "incr", "exists"}
    stats = client.info("commandstats")
    total = 0
    for name, v in stats.items():
        command = name.removeprefix("cmdstat_")
        if command in inner or command == "info":
            continue  # counted inside EVALSHA (or ours)
        total += int(v["usec"])
    return total


@dataclass
class Costs:
    cpu: dict[str, float]  # share of one core per process group over the run
    server_cpu_s: float  # server CPU seconds
    redis_cmd_s: float  # Redis command time (commandstats), seconds


def measure(gen: LoadGen, port: int, path: str, seconds: float, k: int,
            pids: dict[str, list[int]], client: redis.Redis) -> tuple[LoadResult, Costs]:
    """One load run; CPU per process group over it, and Redis's command time."""
    before = {name: sum(cpu_seconds(p) for p in ps) for name, ps in pids.items()}
    usec0 = redis_usec(client)
    t0 = time.perf_counter()
    proc = gen.start(port, path, seconds, k)
    result = gen.finish(proc)
    wall = time.perf_counter() - t0
    usec1 = redis_usec(client)
    after = {name: sum(cpu_seconds(p) for p in ps) for name, ps in pids.items()}
    cpu = {name: (after[name] - before[name]) / wall for name in pids}
    cpu["load generator"] = result.loadgen_cpu / wall
    return result, Costs(cpu, after["server"] - before["server"], (usec1 - usec0) / 1e6)


def wait_idle(client: redis.Redis, gen_key: str, quiet: float = 0.5, limit: float = 30) -> None:
    """Until `gen` (bumped per counted point) stops moving: in-flight exports are done."""
    deadline = time.monotonic() + limit
    last = client.get(gen_key)
    since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = client.get(gen_key)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return


def resend(port: int, wl: Workload, start: int, count: int) -> None:
    """Send exports start..start+count-1 again (each answered 200: counted now, or a
    duplicate of what was counted before)."""
    with open(wl.path, "rb") as f:
        data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        for k in range(start, start + count):
            conn.request("POST", "/v1/metrics", body=wl.body(k, data), headers=HEADERS)
            resp = conn.getresponse()
            raw = resp.read()
            if resp.status != 200 or raw:
                raise RuntimeError(f"resend of export {k}: {resp.status} {raw[:200]!r}")
    finally:
        conn.close()
        data.close()


def settle(client: redis.Redis, gen_key: str, port: int, wl: Workload, k: int,
           issued: int) -> int:
    """After a run: wait for the server to finish, then send the run's head and tail
    again; the next export to send. A request cut off when the load generator stopped
    may or may not have been counted, and wrk builds one request per thread that it never
    sends; each is counted exactly once now (a resent export that was counted is a
    duplicate)."""
    wait_idle(client, gen_key)
    head = min(issued, CONNECTIONS)
    resend(port, wl, k, head)
    tail = min(issued - head, CONNECTIONS * 2)
    resend(port, wl, k + issued - tail, tail)
    return k + issued
