"""OTLP throughput: Claude-Code-shaped metric exports/s through `POST /v1/metrics`.

Each export is one person's 60-second delta export, as Claude Code sends it by default:
OTLP/HTTP protobuf, delta temporality, 8 data points (claude_code.token.usage × 4 types
with `model`, cost.usage, session.count, lines_of_code.count × 2) carrying `user.email`,
`user.account_uuid`, `user.id`, `session.id`, `organization.id`, `terminal.type`; resource
`service.name=claude-code`. People: 100,000 emails (10,000 with --quick), each linked in
advance to a Slack user (`tokenboard identities link`, `--people-by linked`, the default: an
export of a linked person is one Redis round trip), or with `--people-by email` only in the
app's email → Slack user cache (`Store.slack_cache.put_email`'s key, written in one
pipeline), so no Slack lookup is on the hot path; the cache GET of a person the process
has not seen in the last 10 minutes is.

The bodies are serialized with the generated opentelemetry-proto classes before any timing,
all the same length (fixed-width strings, doubles, fixed64 times), into one file. The load
walks an endless sequence k = 0, 1, 2, ...: export k is person k % P at round k // P; the
round is written into bits 8..23 of every point's time (two bytes at known offsets), so every
export is a new point (never a duplicate) and each person exports again in each round.

Load generator: `wrk` (one thread, 32 connections, a Lua script that reads export k from
the file and patches its round) when installed, else a separate Python process with 32
threads over persistent `http.client` connections. The line "load generator:" says which.

Configurations: the real app (build_deps → Bolt → Flask) in N server processes, each a
gunicorn worker (8 threads, in process) on one shared port (SO_REUSEPORT; the kernel spreads the
connections), for N in --processes. For each: GET /healthz (same server, same load
generator: what the HTTP stack alone does), then the exports. CPU seconds of every process
(server(s), redis-server, load generator) are read from /proc during the export run.

Then 1,000 exports go through the Flask app in process, one at a time: Python CPU, Redis command
time and Redis round trips per export, without HTTP or contention.

Correctness at the end: the exports whose answer the load generator may not have seen
(the in-flight tail) are sent again (each is counted exactly once either way), then the
all-time board's total tokens must equal the tokens sent, and `gen` (one per counted
person-day of an export: one per export here) must equal the number of exports.

    .venv/bin/python -m bench.otlp [--quick] [--processes 1,2] [--duration S]
        [--loadgen auto|wrk|python]
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import mmap
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.resource.v1 import resource_pb2

from bench._common import (
    BOT_TOKEN,
    INGEST_TOKEN,
    SIGNING_SECRET,
    WORKSPACE,
    machine,
    percentile,
    private_redis,
    redis_version,
    slack_stub,
    stop_processes,
)
from bot.core.config import BoardConfig
from bot.core.periods import ALL
from bot.sources.otlp import decode_metrics

POINTS = 8
CONNECTIONS = 32
ROUND_SHIFT = 8  # the round lives in bits 8..23 of time_unix_nano (2 bytes)
MAX_ROUNDS = 1 << 16
TOKEN_TYPES = (("input", "input"), ("output", "output"), ("cacheRead", "cache_read"),
               ("cacheCreation", "cache_creation"))
MODEL = "claude-sonnet-4-5-20250929"
HEADERS = {"Content-Type": "application/x-protobuf",
           "Authorization": f"Bearer {INGEST_TOKEN}"}


# -- the exports ------------------------------------------------------------------------------

def email(i: int) -> str:
    return f"u{i:07d}@example.com"


def slack_id(i: int) -> str:
    return f"UB{i:07d}"


def _kv(key: str, value: str) -> common_pb2.KeyValue:
    return common_pb2.KeyValue(key=key, value=common_pb2.AnyValue(string_value=value))


@dataclass
class Export:
    body: bytes
    tokens: int  # what the tokens board counts (default token types: all four)


class ExportBuilder:
    """One ExportMetricsServiceRequest (generated classes), re-filled per person: the
    8 points' times, values and the person's attributes are set, then serialized. Setting
    fields is ~20x quicker than building the message tree for each of 100,000 people."""

    PERSON_KEYS = ("user.id", "session.id", "user.email", "user.account_uuid")

    def __init__(self) -> None:
        person = [_kv("user.id", "0" * 64), _kv("session.id", str(uuid.UUID(int=0))),
                  _kv("organization.id", "3f1c2a9e-5b7d-4e21-9c0a-7d8e6f5a4b3c"),
                  _kv("user.email", email(0)), _kv("user.account_uuid", str(uuid.UUID(int=0))),
                  _kv("terminal.type", "vscode")]

        def point(*extra: common_pb2.KeyValue) -> metrics_pb2.NumberDataPoint:
            return metrics_pb2.NumberDataPoint(attributes=person + list(extra), as_double=0.0)

        def counter(name: str, unit: str, points: list) -> metrics_pb2.Metric:
            return metrics_pb2.Metric(name=name, unit=unit, sum=metrics_pb2.Sum(
                data_points=points, is_monotonic=True,
                aggregation_temporality=metrics_pb2.AGGREGATION_TEMPORALITY_DELTA))

        metrics = [
            counter("claude_code.session.count", "count", [point()]),
            counter("claude_code.token.usage", "tokens", [
                point(_kv("type", t), _kv("model", MODEL)) for t, _ in TOKEN_TYPES]),
            counter("claude_code.cost.usage", "USD", [point(_kv("model", MODEL))]),
            counter("claude_code.lines_of_code.count", "count", [
                point(_kv("type", "added")), point(_kv("type", "removed"))]),
        ]
        self.request = metrics_service_pb2.ExportMetricsServiceRequest(resource_metrics=[
            metrics_pb2.ResourceMetrics(
                resource=resource_pb2.Resource(attributes=[
                    _kv("service.name", "claude-code"), _kv("service.version", "2.0.14"),
                    _kv("os.type", "linux"), _kv("os.version", "6.8.0"),
                    _kv("host.arch", "amd64")]),
                scope_metrics=[metrics_pb2.ScopeMetrics(
                    scope=common_pb2.InstrumentationScope(name="com.anthropic.claude_code",
                                                          version="2.0.14"),
                    metrics=metrics)])])
        m = self.request.resource_metrics[0].scope_metrics[0].metrics
        # (point, value key): session 1, tokens by type, cost, lines added/removed
        self.points = [(m[0].sum.data_points[0], "session")]
        self.points += [(dp, t) for dp, (t, _) in zip(m[1].sum.data_points, TOKEN_TYPES,
                                                      strict=True)]
        self.points += [(m[2].sum.data_points[0], "cost"),
                        (m[3].sum.data_points[0], "added"), (m[3].sum.data_points[1], "removed")]
        self.counted = set(BoardConfig().token_types)

    def build(self, i: int, time_ns: int, rng: random.Random) -> Export:
        """Person i's 60 s delta export ending at time_ns."""
        person = {"user.id": f"{rng.getrandbits(256):064x}",
                  "session.id": str(uuid.UUID(int=rng.getrandbits(128))),
                  "user.email": email(i), "user.account_uuid": str(uuid.UUID(int=i + 1))}
        for dp, _ in self.points:
            for kv in dp.attributes:
                if kv.key in person:
                    kv.value.string_value = person[kv.key]
        values = {"session": 1.0, "input": rng.randint(50, 5_000),
                  "output": rng.randint(100, 20_000), "cacheRead": rng.randint(0, 200_000),
                  "cacheCreation": rng.randint(0, 30_000),
                  "added": rng.randint(0, 400), "removed": rng.randint(0, 150)}
        values["cost"] = round(values["input"] * 3e-6 + values["output"] * 15e-6
                               + values["cacheRead"] * 3e-7
                               + values["cacheCreation"] * 3.75e-6, 6)
        for dp, key in self.points:
            dp.start_time_unix_nano = time_ns - 60 * 10**9
            dp.time_unix_nano = time_ns
            dp.as_double = float(values[key])
        tokens = sum(values[t] for t, ours in TOKEN_TYPES if ours in self.counted)
        return Export(self.request.SerializeToString(), tokens)


def time_offsets(body: bytes, time_ns: int) -> list[int]:
    """Byte offsets of every time_unix_nano (fixed64, little-endian) in a body."""
    needle = time_ns.to_bytes(8, "little")
    out, at = [], body.find(needle)
    while at >= 0:
        out.append(at)
        at = body.find(needle, at + 1)
    return out


def patch(body: bytes | bytearray, offsets: Sequence[int], rnd: int) -> bytes:
    """The body with `rnd` in bits 8..23 of each point's time."""
    out = bytearray(body)
    lo, hi = rnd & 0xFF, rnd >> 8
    for at in offsets:
        out[at + 1] = lo
        out[at + 2] = hi
    return bytes(out)


@dataclass
class Workload:
    path: Path  # P bodies of `length` bytes, back to back
    people: int
    length: int
    offsets: list[int]
    tokens: list[int]  # per person

    def body(self, k: int, data: bytes | mmap.mmap) -> bytes:
        i, rnd = k % self.people, k // self.people
        if rnd >= MAX_ROUNDS:
            raise RuntimeError("out of rounds")
        return patch(data[i * self.length:(i + 1) * self.length], self.offsets, rnd)

    def tokens_sent(self, start: int, count: int) -> int:
        full, part = divmod(count, self.people)
        total = full * sum(self.tokens)
        first = start % self.people
        for j in range(part):
            total += self.tokens[(first + j) % self.people]
        return total


def build_workload(people: int, directory: Path, seed: int = 11) -> Workload:
    rng = random.Random(seed)
    now_ns = time.time_ns()
    # A minute ago, bits 0..23 cleared for the round (and so every person's time differs
    # by whole 16.8 ms steps): points in the past, a retried export is a duplicate.
    base = ((now_ns - 60 * 10**9) >> 24) << 24
    path = directory / "exports.bin"
    length, offsets, tokens = 0, None, []
    builder = ExportBuilder()
    with path.open("wb") as out:
        for i in range(people):
            t = base - (i << 24)
            export = builder.build(i, t, rng)
            found = time_offsets(export.body, t)
            if len(found) != POINTS:
                raise RuntimeError(f"found {len(found)} time fields in export {i}")
            rel = found
            if offsets is None:
                length, offsets = len(export.body), rel
            elif len(export.body) != length or rel != offsets:
                raise RuntimeError("exports differ in layout; they must be fixed-width")
            if i == 0:  # what the receiver makes of it: 8 points, this person
                decoded = decode_metrics(export.body, False)
                emails = {p.attributes.get("user.email") for p in decoded.points}
                if len(decoded.points) != POINTS or decoded.rejected or emails != {email(0)}:
                    raise RuntimeError(f"the receiver decodes export 0 as {decoded}")
            out.write(export.body)
            tokens.append(export.tokens)
    return Workload(path, people, length, offsets or [], tokens)


def cache_emails(client: redis.Redis, store: Any, people: int, ttl: int) -> None:
    """What `Store.slack_cache.put_email` writes after a Slack lookup, for everyone, pipelined."""
    for lo in range(0, people, 10_000):
        pipe = client.pipeline(transaction=False)
        for i in range(lo, min(people, lo + 10_000)):
            pipe.set(store.keys.key("email", email(i)), slack_id(i), ex=ttl)
        pipe.execute()
    probe = people // 2
    if store.slack_cache.email(email(probe)) != slack_id(probe):
        raise RuntimeError("email cache not where Store.slack_cache.email looks")


# -- server processes -----------------------------------------------------------------------

def serve(argv: Sequence[str]) -> None:
    """A child: the real app under one gunicorn worker on a SO_REUSEPORT socket; prints
    "ready"."""
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--redis", required=True)
    p.add_argument("--stub", required=True)
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--data-dir", required=True)
    a = p.parse_args(argv)
    from bot.core.settings import Settings
    from bot.runtime.app import build_bolt_app, build_deps
    from bot.web.app import build_web_app
    from bot.web.server import Server

    settings = Settings(slack_bot_token=BOT_TOKEN, slack_signing_secret=SIGNING_SECRET,
                        slack_api_url=a.stub, redis_url=a.redis, data_dir=Path(a.data_dir),
                        ingest_tokens=(INGEST_TOKEN,), ingest_rate_limit=0, timezone="UTC",
                        workspace=WORKSPACE)
    deps = build_deps(settings)  # the production wiring (connect_redis: RESP2, hiredis)
    app = build_web_app(deps, build_bolt_app(deps))
    server = Server(app, port=a.port, threads=a.threads, reuse_port=True).start()
    print("ready", flush=True)
    assert server.thread is not None
    server.thread.join()


def reuseport_socket(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    return sock


def free_reuseport() -> int:
    sock = reuseport_socket(0)
    port = sock.getsockname()[1]
    sock.close()
    return port


def start_servers(n: int, port: int, redis_url: str, stub_url: str, data_dir: Path,
                  threads: int = 8) -> list[subprocess.Popen]:
    procs = []
    for _ in range(n):
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.otlp", "_serve", "--port", str(port),
             "--redis", redis_url, "--stub", stub_url, "--threads", str(threads),
             "--data-dir", str(data_dir)],
            stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parent.parent)
        procs.append(proc)
    for proc in procs:
        line = proc.stdout.readline() if proc.stdout else ""
        if line.strip() != "ready":
            stop_processes(*procs, timeout=10)
            raise RuntimeError(f"server process did not start (said {line!r})")
    return procs


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (and its reaped children), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    ticks = os.sysconf("SC_CLK_TCK")
    return sum(int(x) for x in fields[11:15]) / ticks


# -- load generators --------------------------------------------------------------------------

WRK_LUA = r"""
-- tokenboard bench: export k of the endless sequence = body k % P, round k // P.
local path, length, people, k, offsets, out
issued, non200, partial = 0, 0, 0  -- globals: done() reads them with thread:get
local mode
local threads = {}

function setup(thread) table.insert(threads, thread) end

function init(args)
  mode = args[1]
  if mode == "otlp" then
    path, length, people, k = args[2], tonumber(args[3]), tonumber(args[4]), tonumber(args[5])
    offsets = {}
    for o in string.gmatch(args[6], "%d+") do table.insert(offsets, tonumber(o)) end
    out = io.open(path, "rb")
    wrk.headers["Content-Type"] = "application/x-protobuf"
    wrk.headers["Authorization"] = args[7]
  end
end

function request()
  if mode ~= "otlp" then
    issued = issued + 1
    return wrk.request()
  end
  local i, rnd = k % people, math.floor(k / people)
  out:seek("set", i * length)
  local body = out:read(length)
  local lo, hi = string.char(rnd % 256), string.char(math.floor(rnd / 256) % 256)
  local parts, at = {}, 1
  for _, o in ipairs(offsets) do  -- o is 0-based: bytes o+1, o+2 (0-based) = Lua o+2, o+3
    table.insert(parts, body:sub(at, o + 1))
    table.insert(parts, lo .. hi)
    at = o + 4
  end
  table.insert(parts, body:sub(at))
  k = k + 1
  issued = issued + 1
  return wrk.format("POST", "/v1/metrics", nil, table.concat(parts))
end

function response(status, headers, body)
  if status ~= 200 then non200 = non200 + 1
  elseif body ~= nil and #body > 0 then partial = partial + 1 end
end

function done(summary, latency, requests)
  local t = threads[1]
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "issued": %d, "non200": %d, ' ..
    '"partial": %d, "connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, t:get("issued"), t:get("non200"), t:get("partial"),
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean))
end
"""


@dataclass
class LoadResult:
    requests: int  # answered requests
    seconds: float
    issued: int  # exports started (k advanced by this much)
    errors: int  # non-200 answers, socket errors, timeouts
    partial: int  # 200 with a partial_success (a rejected point)
    p50: float
    p99: float
    mean: float
    loadgen_cpu: float

    @property
    def per_s(self) -> float:
        return self.requests / self.seconds


def run_wrk(port: int, path: str, seconds: float, lua: Path, args: list[str]
            ) -> tuple[LoadResult, subprocess.Popen]:
    cmd = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{max(1, round(seconds))}s", "--timeout", "30s",
           "-s", str(lua), f"http://127.0.0.1:{port}{path}", "--", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc  # type: ignore[return-value]


def finish_wrk(proc: subprocess.Popen) -> LoadResult:
    pid = proc.pid
    cpu = 0.0
    # read CPU while it is still there (a zombie keeps its /proc/stat until reaped)
    while proc.poll() is None:
        cpu = cpu_seconds(pid)
        time.sleep(0.1)
    out, err = proc.communicate()
    line = next((x for x in out.splitlines() if x.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk said: {out[-800:]} {err[-800:]}")
    d = json.loads(line[len("WRKJSON "):])
    errors = d["non200"] + d["connect"] + d["read"] + d["write"] + d["timeout"]
    return LoadResult(requests=d["requests"], seconds=d["duration_us"] / 1e6,
                      issued=d["issued"], errors=errors, partial=d["partial"],
                      p50=d["p50_us"] / 1e6, p99=d["p99_us"] / 1e6, mean=d["mean_us"] / 1e6,
                      loadgen_cpu=cpu)


def load(argv: Sequence[str]) -> None:
    """A child: the Python load generator (threads over keep-alive connections)."""
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--path", required=True)
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--file", default="")
    p.add_argument("--people", type=int, default=0)
    p.add_argument("--length", type=int, default=0)
    p.add_argument("--offsets", default="")
    p.add_argument("--start", type=int, default=0)
    a = p.parse_args(argv)
    offsets = [int(x) for x in a.offsets.split(",") if x]
    data: Any = None
    wl = None
    if a.file:
        with open(a.file, "rb") as f:
            data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        wl = Workload(Path(a.file), a.people, a.length, offsets, [])
    ks = itertools.count(a.start)
    lock = threading.Lock()
    latencies: list[float] = []
    counts = {"requests": 0, "errors": 0, "partial": 0, "last_k": a.start - 1}
    stop_at = [0.0]
    go = threading.Event()

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=30)
        mine: list[float] = []
        n = err = part = 0
        last = -1
        go.wait()
        while time.perf_counter() < stop_at[0]:
            if wl is not None:
                k = next(ks)
                last = max(last, k)
                body = wl.body(k, data)
                method, headers = "POST", HEADERS
            else:
                body, method, headers = None, "GET", {}
            t0 = time.perf_counter()
            try:
                conn.request(method, a.path, body=body, headers=headers)
                resp = conn.getresponse()
                raw = resp.read()
                status = resp.status
            except OSError:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=30)
                err += 1
                continue
            mine.append(time.perf_counter() - t0)
            n += 1
            if status != 200:
                err += 1
            elif wl is not None and raw:
                part += 1
        conn.close()
        with lock:
            latencies.extend(mine)
            counts["requests"] += n
            counts["errors"] += err
            counts["partial"] += part
            counts["last_k"] = max(counts["last_k"], last)

    threads = [threading.Thread(target=worker) for _ in range(CONNECTIONS)]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    stop_at[0] = t0 + a.seconds
    go.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    print("PYJSON " + json.dumps({
        "requests": counts["requests"], "seconds": elapsed,
        "issued": counts["last_k"] + 1 - a.start if wl is not None else counts["requests"],
        "errors": counts["errors"], "partial": counts["partial"],
        "p50": percentile(latencies, 50), "p99": percentile(latencies, 99),
        "mean": sum(latencies) / max(1, len(latencies))}), flush=True)


def run_python(port: int, path: str, seconds: float, extra: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "bench.otlp", "_load", "--port", str(port), "--path", path,
         "--seconds", str(seconds), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=Path(__file__).resolve().parent.parent)


def finish_python(proc: subprocess.Popen) -> LoadResult:
    cpu = 0.0
    while proc.poll() is None:
        cpu = cpu_seconds(proc.pid)
        time.sleep(0.1)
    out, err = proc.communicate()
    line = next((x for x in out.splitlines() if x.startswith("PYJSON ")), None)
    if line is None:
        raise RuntimeError(f"python load generator said: {out[-800:]} {err[-800:]}")
    d = json.loads(line[len("PYJSON "):])
    return LoadResult(requests=d["requests"], seconds=d["seconds"], issued=d["issued"],
                      errors=d["errors"], partial=d["partial"], p50=d["p50"], p99=d["p99"],
                      mean=d["mean"], loadgen_cpu=cpu)


class LoadGen:
    def __init__(self, kind: str, workload: Workload, tmp: Path) -> None:
        self.kind = kind
        self.wl = workload
        self.lua = tmp / "otlp.lua"
        self.lua.write_text(WRK_LUA)

    def start(self, port: int, path: str, seconds: float, k: int = 0) -> subprocess.Popen:
        wl = self.wl
        offsets = ",".join(map(str, wl.offsets))
        if self.kind == "wrk":
            args = (["otlp", str(wl.path), str(wl.length), str(wl.people), str(k), offsets,
                     HEADERS["Authorization"]] if path == "/v1/metrics" else ["get"])
            return run_wrk(port, path, seconds, self.lua, args)  # type: ignore[return-value]
        extra = (["--file", str(wl.path), "--people", str(wl.people), "--length",
                  str(wl.length), "--offsets", offsets, "--start", str(k)]
                 if path == "/v1/metrics" else [])
        return run_python(port, path, seconds, extra)

    def finish(self, proc: subprocess.Popen) -> LoadResult:
        return finish_wrk(proc) if self.kind == "wrk" else finish_python(proc)


# -- one configuration --------------------------------------------------------------------------

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


def resend(port: int, wl: Workload, start: int, count: int) -> int:
    """Send exports start..start+count-1 again; how many were new (not duplicates)."""
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
    return count


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


def in_process(redis_url: str, stub: Any, tmp: Path, wl: Workload, k: int, n: int
               ) -> dict[str, float]:
    """CPU per export without HTTP or contention: the Flask app called directly, sequentially."""
    import io

    from bench._common import CountingConnection, counting_client, start_app

    client = counting_client(redis_url)
    app = start_app(redis_url, stub, tmp / "data", redis_client=client)
    try:
        with open(wl.path, "rb") as f:
            data = f.read()
        bodies = [wl.body(j, data) for j in range(k, k + n + 50)]
        statuses: list[str] = []

        def call(body: bytes) -> None:
            environ = {"PATH_INFO": "/v1/metrics", "REQUEST_METHOD": "POST",
                       "CONTENT_LENGTH": str(len(body)), "CONTENT_TYPE": HEADERS["Content-Type"],
                       "wsgi.input": io.BytesIO(body), "wsgi.url_scheme": "http",
                       "SERVER_NAME": "bench", "SERVER_PORT": "80",
                       "HTTP_AUTHORIZATION": HEADERS["Authorization"]}
            out = app.wsgi(environ, lambda status, headers, exc=None: statuses.append(status))
            if b"".join(out):
                raise RuntimeError("an export was partly refused in process")

        for body in bodies[:50]:  # warm-up
            call(body)
        sends0, usec0 = CountingConnection.sends, redis_usec(client)
        cpu0, t0 = time.process_time(), time.perf_counter()
        for body in bodies[50:]:
            call(body)
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        sends, usec = CountingConnection.sends - sends0, redis_usec(client) - usec0
        if any(not x.startswith("200") for x in statuses):
            raise RuntimeError(f"in process: {statuses[:3]}")
    finally:
        app.stop()
        client.close()
    return {"exports": n + 50, "python_cpu_us": cpu / n * 1e6, "wall_us": wall / n * 1e6,
            "redis_us": usec / n - 1, "round_trips": (sends - 2) / n}


def fmt_cpu(cpu: dict[str, float]) -> str:
    return ", ".join(f"{name} {share:.0%}" for name, share in cpu.items())


# -- main -------------------------------------------------------------------------------------

def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="10,000 people, 5 s runs")
    parser.add_argument("--people", type=int, default=0)
    parser.add_argument("--duration", type=float, default=0, help="seconds per export run")
    parser.add_argument("--processes", default="", help="server process counts, e.g. 1,2,3")
    parser.add_argument("--threads", type=int, default=8, help="threads per process")
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--people-by", choices=("linked", "email"), default="linked",
                        help="people linked in advance, or found in the email cache")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    people = args.people or (10_000 if args.quick else 100_000)
    seconds = args.duration or (5.0 if args.quick else 20.0)
    health_seconds = min(seconds, 3.0 if args.quick else 5.0)
    counts = [int(x) for x in (args.processes or "1,2").split(",")]
    kind = args.loadgen
    if kind == "auto":
        kind = "wrk" if shutil.which("wrk") else "python"
    print(f"== otlp: Claude Code exports (protobuf, delta, {POINTS} points, 1 person each), "
          f"{people:,} people, {CONNECTIONS} connections, {seconds:g} s per run, server "
          f"processes {counts} × {args.threads} threads ({machine()})")
    print(f"   load generator: {kind}"
          + ("" if kind == "wrk" else " (wrk not found: Python threads in a separate "
             "process; it competes for the same 2 cores, so figures are lower bounds)"))
    results: dict[str, Any] = {"loadgen": kind, "people": people, "configs": {}}
    with tempfile.TemporaryDirectory(prefix="tokenboard-otlp-") as tmp_name, \
            private_redis() as (server, client), slack_stub() as stub:
        tmp = Path(tmp_name)
        print(f"   {redis_version(client)}")
        from bot.store.slack_cache import NAME_TTL
        from bot.store.store import Store

        store = Store(client, workspace=WORKSPACE)
        t0 = time.perf_counter()
        wl = build_workload(people, tmp)
        t1 = time.perf_counter()
        if args.people_by == "linked":
            for i in range(people):
                store.identity_map.link(f"email:{email(i)}", slack_id(i))
        else:
            cache_emails(client, store, people, NAME_TTL)
        t2 = time.perf_counter()
        print(f"   built {people:,} exports ({wl.length} bytes each, protobuf) in "
              f"{t1 - t0:.1f} s; {people:,} emails "
              f"{'linked' if args.people_by == 'linked' else 'cached'} in {t2 - t1:.1f} s")
        gen = LoadGen(kind, wl, tmp)
        gen_key = store.keys.key("gen")
        redis_pid = server.process.pid
        k = 0
        for n in counts:
            port = free_reuseport()
            procs = start_servers(n, port, server.url, stub.url, tmp / "data", args.threads)
            pids = {"server": [p.pid for p in procs], "redis": [redis_pid]}
            try:
                # warm-up: connections, scripts loaded, first imports (counted, accounted)
                warm, _ = measure(gen, port, "/v1/metrics", 1.0, k, pids, client)
                k = settle(client, gen_key, port, wl, k, warm.issued)
                health, hcost = measure(gen, port, "/healthz", health_seconds, k, pids, client)
                run, cost = measure(gen, port, "/v1/metrics", seconds, k, pids, client)
                k = settle(client, gen_key, port, wl, k, run.issued)
            finally:
                stop_processes(*procs, timeout=10)
            label = f"{n} process{'es' if n > 1 else ''}"
            server_ms = cost.server_cpu_s / run.requests * 1000
            redis_us = cost.redis_cmd_s / run.requests * 1e6
            health_ms = hcost.server_cpu_s / health.requests * 1000
            print(f"   -- {label}")
            print(f"      GET /healthz      {health.per_s:8,.0f} req/s      p50 "
                  f"{health.p50 * 1000:6.2f} ms  p99 {health.p99 * 1000:6.2f} ms  "
                  f"errors {health.errors}  CPU: {fmt_cpu(hcost.cpu)}; "
                  f"{health_ms:.2f} ms server CPU/request")
            print(f"      POST /v1/metrics  {run.per_s:8,.0f} exports/s  p50 "
                  f"{run.p50 * 1000:6.2f} ms  p99 {run.p99 * 1000:6.2f} ms  "
                  f"errors {run.errors}  partial {run.partial}  "
                  f"({run.per_s * POINTS:,.0f} points/s)  CPU: {fmt_cpu(cost.cpu)}")
            print(f"      = {run.per_s / health.per_s:.0%} of /healthz; "
                  f"{run.per_s * 60:,.0f} people exporting every 60 s; per export: "
                  f"{server_ms:.2f} ms server CPU, {redis_us:.0f} us Redis command time "
                  f"(one Redis core: <= {1e6 / redis_us:,.0f} exports/s)")
            results["configs"][n] = {
                "healthz_per_s": health.per_s, "exports_per_s": run.per_s,
                "p50": run.p50, "p99": run.p99, "errors": run.errors + run.partial,
                "cpu": cost.cpu, "healthz_cpu": hcost.cpu, "healthz_p50": health.p50,
                "server_ms_per_export": server_ms, "redis_us_per_export": redis_us,
                "healthz_server_ms": health_ms}
        inproc = in_process(server.url, stub, tmp, wl, k, 300 if args.quick else 1_000)
        k += inproc.pop("exports")
        print(f"   in process, one export at a time (no HTTP, no concurrency): "
              f"{inproc['python_cpu_us']:,.0f} us Python CPU, "
              f"{inproc['redis_us']:,.0f} us Redis command time, "
              f"{inproc['round_trips']:.1f} Redis round trips, "
              f"{inproc['wall_us']:,.0f} us wall per export")
        results["in_process"] = inproc
        # correctness: every export issued is counted exactly once
        wait_idle(client, gen_key)
        totals = store.reads.period_totals(ALL)
        board = int(round(float(totals.tokens.sum())))
        sent = wl.tokens_sent(0, k)
        # `gen` moves once per counted person-day of an export: once per export here
        counted = int(client.get(gen_key) or 0)
        ok = board == sent and counted == k
        print(f"   check: {k:,} exports sent; all-time board {board:,} tokens vs {sent:,} "
              f"sent; {counted:,} exports counted vs {k:,}; "
              f"{len(totals.users):,} people on the board: {'OK' if ok else 'MISMATCH'}")
        if not ok:
            on_board = set(totals.users)
            missing = [j for j in range(min(k, people)) if slack_id(j) not in on_board]
            print(f"   missing people (first round): {missing[:40]}")
            raise RuntimeError("the board does not add up to what was sent")
        results.update(exports=k, board_tokens=board, sent_tokens=sent)
    best = max(results["configs"].items(), key=lambda kv: kv[1]["exports_per_s"])
    results["best"] = {"processes": best[0], **best[1]}
    return results


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_serve":
        serve(sys.argv[2:])
    elif len(sys.argv) > 1 and sys.argv[1] == "_load":
        load(sys.argv[2:])
    else:
        main()
