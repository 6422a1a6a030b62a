"""The load generators of the throughput benchmarks (`bench.otlp`, `bench.servers`): 32
connections sending GET requests or `bench.otlp_exports`' exports for a given time.

- `wrk` (one thread, 32 connections, a Lua script, `WRK_LUA`, that reads export k from the
  workload file and patches its round) when installed;
- else a separate Python process (`python -m bench.loadgen ...`, `load`) with 32 threads
  over persistent `http.client` connections.

Either reports what it sent and how it was answered (`LoadResult`: answered requests,
exports started, errors, partial successes, latency percentiles) and its own CPU seconds.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import mmap
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench._common import cpu_seconds, percentile
from bench.otlp_exports import HEADERS, Workload

CONNECTIONS = 32


def add_option(parser: argparse.ArgumentParser) -> None:
    """--loadgen: which load generator to use."""
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")


def kind(choice: str) -> str:
    """The load generator --loadgen names: with `auto`, wrk when installed, else Python."""
    if choice == "auto":
        return "wrk" if shutil.which("wrk") else "python"
    return choice


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
            ) -> subprocess.Popen:
    cmd = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{max(1, round(seconds))}s", "--timeout", "30s",
           "-s", str(lua), f"http://127.0.0.1:{port}{path}", "--", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc


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
        [sys.executable, "-m", "bench.loadgen", "--port", str(port), "--path", path,
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
    """One kind of load generator over one workload: `start` a run, `finish` it."""

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
            return run_wrk(port, path, seconds, self.lua, args)
        extra = (["--file", str(wl.path), "--people", str(wl.people), "--length",
                  str(wl.length), "--offsets", offsets, "--start", str(k)]
                 if path == "/v1/metrics" else [])
        return run_python(port, path, seconds, extra)

    def finish(self, proc: subprocess.Popen) -> LoadResult:
        return finish_wrk(proc) if self.kind == "wrk" else finish_python(proc)


if __name__ == "__main__":
    load(sys.argv[1:])
