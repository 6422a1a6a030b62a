"""The HTTP server: the same WSGI app under gunicorn (as `tokenboard serve` runs it) and
under alternatives, side by side: GET /healthz and Claude Code-shaped OTLP exports per
second, server CPU per request, and whether each server keeps the guarantees of ours.

Servers, each one web process serving the app `tokenboard serve` builds (`build_deps` →
`build_bolt_app` → `build_web_app`, the same environment for all):

- `gunicorn`: `python -m bot serve` itself (WEB_CONCURRENCY=1, WEB_THREADS threads, the
  buffering worker `bot.web.buffering_worker.BufferingWorker`, SERVE_JOBS=off): a master
  and one worker process.
- `granian`: granian's WSGI interface, 1 worker, WEB_THREADS blocking threads
  (`python -m granian --interface wsgi --factory bench.servers:wsgi_app`): a main process
  and one worker process. Skipped with a line saying so when granian is not installed
  (`pip install '.[bench]'`).
- `uvicorn`: uvicorn (h11) in front of a2wsgi's WSGI-to-ASGI adapter with WEB_THREADS
  threads, one process. Skipped likewise when uvicorn or a2wsgi is missing.

Throughput: every server is started once; then, for each of --rounds rounds, each server in
turn (the order rotates every round) gets GET /healthz then exports to `POST /v1/metrics`,
from the same load generator with the same 32 connections (`bench.otlp`'s: wrk when
installed, else a Python process). The exports are `bench.otlp`'s (protobuf, delta, 8
points, one person each), the people's `email:` identities linked in advance, so an export
is one Redis round trip. Server CPU is read from /proc/<pid>/stat of every process of the
server (utime + stime), before and after each run. At the end every export sent must be
counted exactly once (the all-time board's tokens and `gen`).

Guarantees, each server freshly started, before the throughput runs (with --quick, (a)
and (b) on the measured servers after them, and no (c)):

- (a) slow clients: 50 connections that send half a request and stall (25 with half the
  headers, 25 with whole headers, a sender's token and a tenth of a 100-byte body); then
  up to 20 GET /healthz one after the other, 2 s each at most (stopping at the second
  that fails): how long the slowest took, how many failed.
- (b) a 20 MB body: `POST /slack/events` with `Content-Length: 20000000` (limit 1 MiB),
  the whole body sent by a writer thread as a client that writes before reading does;
  the answer, how much of the body the client had written when the answer came, and how
  much the server's resident memory grew (the processes' peak RSS, VmHWM; and RSS sampled
  every 5 ms while it went on). Then the same request chunked.
- (c) SIGTERM: a `POST /ingest` held in flight (its email look-up held 2 s by the Slack
  stub), SIGTERM to the server's first process; whether new connections are refused,
  the request in flight is answered 200, and the server exits 0.

    .venv/bin/python -m bench.servers [--quick] [--rounds N] [--duration S]
        [--servers gunicorn,granian,uvicorn] [--threads 8] [--loadgen auto|wrk|python]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from bench._common import (
    BOT_TOKEN,
    INGEST_TOKEN,
    SIGNING_SECRET,
    WORKSPACE,
    machine,
    private_redis,
    redis_version,
    slack_stub,
    stop_processes,
)
from bench.otlp import (
    CONNECTIONS,
    POINTS,
    LoadGen,
    build_workload,
    cpu_seconds,
    email,
    measure,
    settle,
    slack_id,
    wait_idle,
)
from bot.core.periods import ALL
from bot.store.embedded import free_port

ROOT = Path(__file__).resolve().parent.parent
SERVERS = ("gunicorn", "granian", "uvicorn")
NEEDS = {"gunicorn": ("gunicorn",), "granian": ("granian",), "uvicorn": ("uvicorn", "a2wsgi")}
BIG = 20_000_000  # bytes of the oversized body in (b)
PIECE = 64 * 1024
MiB = 1024 * 1024


# -- the app, as `tokenboard serve` builds it --------------------------------------------------

def wsgi_app() -> Any:
    """The WSGI app `tokenboard serve` serves, from the environment (a factory for granian
    and uvicorn; gunicorn runs `tokenboard serve` itself)."""
    from concurrent.futures import ThreadPoolExecutor

    from bot.core.settings import load_settings
    from bot.runtime.app import build_bolt_app, build_deps
    from bot.runtime.layout import prepare_layouts, served_stores
    from bot.runtime.serve import LAZY_THREADS
    from bot.slack.startup import forget_slack_secrets
    from bot.web.app import build_web_app

    settings = load_settings(dict(os.environ), dotenv_path=None)
    forget_slack_secrets()
    deps = build_deps(settings)
    prepare_layouts(settings, served_stores(settings, deps.store))
    lazy = ThreadPoolExecutor(max_workers=LAZY_THREADS, thread_name_prefix="lazy")
    return build_web_app(deps, build_bolt_app(deps, lazy))


def run_uvicorn(argv: Sequence[str]) -> None:
    """A child: uvicorn in front of a2wsgi's adapter, in this one process."""
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--threads", type=int, default=8)
    a = p.parse_args(argv)
    import uvicorn
    from a2wsgi import WSGIMiddleware

    uvicorn.run(WSGIMiddleware(wsgi_app(), workers=a.threads), host="127.0.0.1",
                port=a.port, log_level="warning", timeout_graceful_shutdown=10)


def missing(kind: str) -> list[str]:
    """The packages `kind` needs that are not installed."""
    return [name for name in NEEDS[kind] if importlib.util.find_spec(name) is None]


def server_env(port: int, redis_url: str, stub_url: str, data_dir: Path,
               threads: int) -> dict[str, str]:
    """One environment for every server: the same settings, hence the same app."""
    return {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "HOME": str(data_dir),
            "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": stub_url, "REDIS_URL": redis_url,
            "TOKENBOARD_DATA_DIR": str(data_dir), "TOKENBOARD_WORKSPACE": WORKSPACE,
            "TOKENBOARD_TIMEZONE": "UTC", "INGEST_TOKENS": f"bench:{INGEST_TOKEN}",
            "INGEST_RATE_LIMIT": "0", "DIGEST_CHANNEL": "", "SERVE_JOBS": "off",
            "WEB_CONCURRENCY": "1", "WEB_THREADS": str(threads), "PORT": str(port)}


def command(kind: str, port: int, threads: int) -> list[str]:
    if kind == "gunicorn":
        return [sys.executable, "-m", "bot", "serve"]
    if kind == "granian":
        return [sys.executable, "-m", "granian", "--interface", "wsgi", "--factory",
                "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
                "--blocking-threads", str(threads), "--no-ws", "--log-level", "warning",
                "bench.servers:wsgi_app"]
    return [sys.executable, "-m", "bench.servers", "_uvicorn", "--port", str(port),
            "--threads", str(threads)]


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it, from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(parents.get(p, []))
    return found


def memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of `pid`, bytes (0 when it is gone)."""
    found = {"VmRSS": 0, "VmHWM": 0}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in found:
                found[name] = int(value.split()[0]) * 1024
    except OSError:
        pass
    return found


@dataclass
class Running:
    """One server process tree, started by `start`."""

    kind: str
    port: int
    proc: subprocess.Popen
    log: Path
    pids: list[int] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu(self) -> float:
        return sum(cpu_seconds(p) for p in self.pids)

    def rss(self) -> int:
        return sum(memory(p)["VmRSS"] for p in self.pids)

    def hwm(self) -> int:
        return sum(memory(p)["VmHWM"] for p in self.pids)

    def stop(self) -> None:
        stop_processes(self.proc)

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")


def start(kind: str, env: dict[str, str], threads: int, logs: Path) -> Running:
    """Start a server and wait until /healthz answers 200 and its processes are all up."""
    port = int(env["PORT"])
    log = logs / f"{kind}-{port}.log"
    with log.open("w") as err:
        proc = subprocess.Popen(command(kind, port, threads), env=env, cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=err)
    running = Running(kind, port, proc, log)
    deadline = time.monotonic() + 60
    while True:
        try:
            if get_healthz(running.url, 2)[0] == 200:
                break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            running.stop()
            raise RuntimeError(f"{kind} did not start: {running.stderr()[-1500:]}")
        time.sleep(0.1)
    running.pids = descendants(proc.pid)
    return running


def get_healthz(url: str, timeout: float) -> tuple[int, float]:
    """One GET /healthz on a new connection: (status, seconds)."""
    host, port = url.removeprefix("http://").split(":")
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request("GET", "/healthz")
        resp = conn.getresponse()
        resp.read()
        return resp.status, time.perf_counter() - t0
    finally:
        conn.close()


# -- the guarantees -----------------------------------------------------------------------------

def slow_clients(server: Running, n: int = 50, probes: int = 20,
                 timeout: float = 2.0) -> dict[str, Any]:
    """(a): `n` stalled half requests, then up to `probes` GET /healthz, each given
    `timeout` seconds (the probing stops at the second that fails); the slowest and
    failures."""
    stalled: list[socket.socket] = []
    times: list[float] = []
    failed = 0
    try:
        for i in range(n):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            if i % 2:  # half the headers
                sock.sendall(b"POST /ingest HTTP/1.1\r\nHost: tokenboard\r\n")
            else:  # whole headers (a sender's token: the app reads the body), a tenth
                sock.sendall(b"POST /ingest HTTP/1.1\r\nHost: tokenboard\r\n"
                             b"Authorization: Bearer " + INGEST_TOKEN.encode() + b"\r\n"
                             b"Content-Type: application/json\r\n"
                             b"Content-Length: 100\r\n\r\n0123456789")
            stalled.append(sock)
        time.sleep(0.3)
        for _ in range(probes):
            if failed >= 2:
                break
            t0 = time.perf_counter()
            try:
                status, _took = get_healthz(server.url, timeout)
                if status != 200:
                    failed += 1
            except OSError:
                failed += 1
            times.append(time.perf_counter() - t0)
    finally:
        for sock in stalled:
            sock.close()
    time.sleep(0.3)
    return {"stalled": n, "probes": len(times), "failed": failed, "slowest_s": max(times),
            "first_s": times[0], "held": failed == 0 and max(times) < 1.0}


def exchange(port: int, request: bytes, parts: Callable[[], Any]) -> tuple[bytes, int, float]:
    """Send `request`, then what `parts()` yields, from a thread; read the answer until the
    server closes. (answer, body bytes written when the first answer byte came, seconds.)"""
    written = [0]
    at_answer = [-1]
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        def write() -> None:
            try:
                sock.sendall(request)
                for part in parts():
                    sock.sendall(part)
                    written[0] += len(part)
            except OSError:
                pass  # the server stopped reading: what it answered still counts
        writer = threading.Thread(target=write, daemon=True)
        t0 = time.perf_counter()
        writer.start()
        answer = b""
        try:
            while data := sock.recv(65536):
                if at_answer[0] < 0:
                    at_answer[0] = written[0]
                answer += data
                if b"\r\n\r\n" in answer and _complete(answer):
                    break
        except OSError:
            pass
        took = time.perf_counter() - t0
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        writer.join(10)
    return answer, at_answer[0], took


def _complete(answer: bytes) -> bool:
    head, _, body = answer.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value.strip())
    return False


class RssSampler:
    """The server's resident memory every 5 ms on a thread: how far it rose."""

    def __init__(self, server: Running) -> None:
        self.server = server
        self.start_rss = self.peak = server.rss()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.done.is_set():
            self.peak = max(self.peak, self.server.rss())
            time.sleep(0.005)

    def start(self) -> RssSampler:
        self.thread.start()
        return self

    def stop(self) -> int:
        self.done.set()
        self.thread.join()
        return self.peak - self.start_rss


def big_body(server: Running) -> dict[str, Any]:
    """(b): 20 MB to /slack/events, with Content-Length and chunked."""
    out: dict[str, Any] = {}
    # signed-looking (the guard checks the signature only after the length)
    head = ("POST /slack/events HTTP/1.1\r\nHost: tokenboard\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"X-Slack-Request-Timestamp: {int(time.time())}\r\n"
            f"X-Slack-Signature: v0={'0' * 64}\r\n")
    pieces = BIG // PIECE
    piece = b"x" * PIECE
    for framing in ("length", "chunked"):
        if framing == "length":
            request = (head + f"Content-Length: {BIG}\r\n\r\n").encode()

            def parts() -> Any:
                yield from [piece] * pieces
                yield b"x" * (BIG - pieces * PIECE)
        else:
            request = (head + "Transfer-Encoding: chunked\r\n\r\n").encode()
            framed = b"%x\r\n" % PIECE + piece + b"\r\n"

            def parts(framed: bytes = framed) -> Any:
                yield from [framed] * (pieces + 1)
                yield b"0\r\n\r\n"
        hwm0 = server.hwm()
        sampler = RssSampler(server).start()
        answer, written, took = exchange(server.port, request, parts)
        time.sleep(0.2)
        peak = sampler.stop()
        status_line = answer.split(b"\r\n", 1)[0].decode(errors="replace")
        out[framing] = {"answer": status_line or "(none: connection closed)",
                        "written_at_answer": written, "seconds": took,
                        "hwm_growth": server.hwm() - hwm0, "rss_peak_growth": peak}
    grew = max(max(v["hwm_growth"], v["rss_peak_growth"]) for v in out.values())
    # refused (413, or 411 from the Slack guard for a body without Content-Length) with
    # the server's memory flat
    out["held"] = all(v["answer"].startswith(("HTTP/1.1 413", "HTTP/1.1 411"))
                      for v in out.values()) and grew < 4 * MiB
    return out


def sigterm(server: Running, stub: Any) -> dict[str, Any]:
    """(c): SIGTERM with a request in flight."""
    who = f"held-{server.kind}@example.com"
    stub.add_user(f"UHELD{server.port}", display_name="Held", email=who)
    reached, release = threading.Event(), threading.Event()

    def hold() -> None:
        reached.set()
        release.wait(10)

    stub.on_next_call("users.lookupByEmail", hold)
    answers: list[tuple[int, bytes]] = []
    event = {"id": f"held-{server.kind}", "type": "outcome", "email": who,
             "ts": int(time.time()) - 60, "kind": "deploy"}

    def send() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        try:
            conn.request("POST", "/ingest", json.dumps({"events": [event]}),
                         {"Authorization": f"Bearer {INGEST_TOKEN}",
                          "Content-Type": "application/json"})
            resp = conn.getresponse()
            answers.append((resp.status, resp.read()))
        except OSError as exc:
            answers.append((0, str(exc).encode()))
        finally:
            conn.close()

    sender = threading.Thread(target=send)
    sender.start()
    out: dict[str, Any] = {"reached": reached.wait(10)}
    t0 = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    refused_after = None
    while time.monotonic() - t0 < 1.5:
        try:
            socket.create_connection(("127.0.0.1", server.port), timeout=0.5).close()
        except OSError:
            refused_after = time.monotonic() - t0
            break
        time.sleep(0.05)
    time.sleep(max(0.0, 2.0 - (time.monotonic() - t0)))
    release.set()
    sender.join(20)
    try:
        code = server.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        code = server.proc.wait()
        out["killed"] = True
    status, body = answers[0] if answers else (0, b"")
    log = server.stderr()
    out.update(refused_new_after_s=refused_after, in_flight=status, body=body[:120].decode(
        errors="replace"), exit_code=code, exit_s=time.monotonic() - t0,
        traceback="Traceback" in log)
    out["held"] = bool(out["reached"] and status == 200 and code == 0
                       and not out.get("killed"))
    return out


# -- throughput ---------------------------------------------------------------------------------

def link_people(client: redis.Redis, people: int) -> None:
    """Every person's `email:` identity linked to their Slack user (what `identities link`
    writes), so an export is found without the email look-up."""
    from bot.store.store import Store

    store = Store(client, workspace=WORKSPACE)
    imap = store.identity_map
    pipe = client.pipeline(transaction=False)
    for i in range(people):
        pipe.hset(imap._links, f"email:{email(i)}", slack_id(i))
    pipe.incr(imap.version_key)
    pipe.execute()
    if imap.links([f"email:{email(people // 2)}"]) != {f"email:{email(people // 2)}":
                                                      slack_id(people // 2)}:
        raise RuntimeError("links not where the identity map reads them")


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="2,000 people, 3 rounds of 1 s + 1.5 s runs, no SIGTERM check")
    parser.add_argument("--rounds", type=int, default=0)
    parser.add_argument("--duration", type=float, default=0, help="seconds per export run")
    parser.add_argument("--servers", default=",".join(SERVERS))
    parser.add_argument("--threads", type=int, default=8, help="WEB_THREADS for every server")
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--no-guarantees", action="store_true")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    people = 2_000 if args.quick else 20_000
    rounds = args.rounds or 3
    seconds = args.duration or (1.5 if args.quick else 10.0)
    health_seconds = 1.0 if args.quick else 5.0
    kind = args.loadgen
    if kind == "auto":
        kind = "wrk" if shutil.which("wrk") else "python"
    wanted = [s for s in args.servers.split(",") if s]
    servers = []
    for name in wanted:
        if name not in SERVERS:
            raise SystemExit(f"unknown server {name}; choose from {', '.join(SERVERS)}")
        if gone := missing(name):
            print(f"   {name}: skipped, not installed ({', '.join(gone)}; "
                  "pip install '.[bench]')")
        else:
            servers.append(name)
    if not servers:
        print("   servers: nothing to measure")
        return {"loadgen": kind, "servers": [], "rounds": [], "guarantees": {},
                "summary": {}}
    print(f"== servers: the same WSGI app on {', '.join(servers)}, 1 web process each, "
          f"{args.threads} threads; {rounds} rounds of GET /healthz {health_seconds:g} s then "
          f"OTLP exports {seconds:g} s, {CONNECTIONS} connections ({machine()})")
    print(f"   load generator: {kind}" + ("" if kind == "wrk" else
          " (wrk not found: Python threads in a separate process, on the same cores)"))
    results: dict[str, Any] = {"loadgen": kind, "servers": servers, "rounds": [],
                               "guarantees": {}}
    with tempfile.TemporaryDirectory(prefix="tokenboard-servers-") as tmp_name, \
            private_redis() as (redis_server, client), slack_stub() as stub:
        tmp = Path(tmp_name)
        print(f"   {redis_version(client)}")
        wl = build_workload(people, tmp)
        link_people(client, people)
        print(f"   {people:,} people linked; exports of {wl.length} bytes ({POINTS} points)")

        def env(port: int) -> dict[str, str]:
            return server_env(port, redis_server.url, stub.url, tmp / "data", args.threads)

        if not args.no_guarantees and not args.quick:  # on fresh servers, (c) stops them
            for name in servers:
                srv = start(name, env(free_port()), args.threads, tmp)
                try:
                    results["guarantees"][name] = guarantees(srv, stub, sigterm_too=True)
                finally:
                    srv.stop()
        running = {name: start(name, env(free_port()), args.threads, tmp) for name in servers}
        from bot.store.store import Store

        store = Store(client, workspace=WORKSPACE)
        gen_key = store.keys.key("gen")
        gen = LoadGen(kind, wl, tmp)
        gen0 = int(client.get(gen_key) or 0)  # (c)'s reports moved it already
        k = 0
        try:
            for name in servers:  # warm-up: connections, scripts, imports
                srv = running[name]
                warm, _ = measure(gen, srv.port, "/v1/metrics", 1.0, k,
                                  {"server": srv.pids}, client)
                k = settle(client, gen_key, srv.port, wl, k, warm.issued)
            for r in range(rounds):
                order = servers[r % len(servers):] + servers[:r % len(servers)]
                for name in order:
                    srv = running[name]
                    pids = {"server": srv.pids, "redis": [redis_server.process.pid]}
                    health, hcost = measure(gen, srv.port, "/healthz", health_seconds, k,
                                            pids, client)
                    run, cost = measure(gen, srv.port, "/v1/metrics", seconds, k, pids,
                                        client)
                    k = settle(client, gen_key, srv.port, wl, k, run.issued)
                    row = {"round": r + 1, "server": name, "load": os.getloadavg()[0],
                           "healthz_per_s": health.per_s, "healthz_p50": health.p50,
                           "healthz_errors": health.errors,
                           "healthz_cpu_ms": hcost.server_cpu_s / max(1, health.requests)
                           * 1000, "exports_per_s": run.per_s, "export_p50": run.p50,
                           "export_p99": run.p99, "export_errors": run.errors + run.partial,
                           "export_cpu_ms": cost.server_cpu_s / max(1, run.requests) * 1000,
                           "server_cores": cost.cpu["server"],
                           "loadgen_cores": cost.cpu["load generator"]}
                    results["rounds"].append(row)
                    print(f"   round {r + 1} {name:9s} /healthz {health.per_s:7,.0f} req/s "
                          f"(p50 {health.p50 * 1000:5.1f} ms, {row['healthz_cpu_ms']:.2f} ms "
                          f"CPU/req, errors {health.errors})  exports {run.per_s:5,.0f}/s "
                          f"(p50 {run.p50 * 1000:5.1f} ms, p99 {run.p99 * 1000:5.1f} ms, "
                          f"{row['export_cpu_ms']:.2f} ms CPU/export, errors "
                          f"{row['export_errors']})  server {cost.cpu['server']:.0%} "
                          f"loadgen {cost.cpu['load generator']:.0%}  load {row['load']:.2f}",
                          flush=True)
            if not args.no_guarantees and args.quick:  # (a) and (b) on the same servers
                for name in servers:
                    results["guarantees"][name] = guarantees(running[name], stub,
                                                             sigterm_too=False)
        finally:
            for srv in running.values():
                srv.stop()
        wait_idle(client, gen_key)
        totals = store.reads.period_totals(ALL)
        board = int(round(float(totals.tokens.sum())))
        sent = wl.tokens_sent(0, k)
        counted = int(client.get(gen_key) or 0) - gen0
        ok = board == sent and counted == k
        print(f"   check: {k:,} exports sent over all servers; board {board:,} tokens vs "
              f"{sent:,} sent; {counted:,} counted: {'OK' if ok else 'MISMATCH'}")
        if not ok:
            raise RuntimeError("the board does not add up to what was sent")
    results["summary"] = summarize(results["rounds"], servers)
    for name, s in results["summary"].items():
        print(f"   {name:9s} median of {rounds}: /healthz {s['healthz_per_s']:,.0f} req/s at "
              f"{s['healthz_cpu_ms']:.2f} ms CPU; exports {s['exports_per_s']:,.0f}/s at "
              f"{s['export_cpu_ms']:.2f} ms CPU")
    return results


def guarantees(srv: Running, stub: Any, sigterm_too: bool) -> dict[str, Any]:
    """(a), (b) and, with `sigterm_too`, (c) (which stops `srv`) on a running server."""
    name = srv.kind
    out: dict[str, Any] = {}
    for _ in range(3):  # warm-up: the app's first requests
        get_healthz(srv.url, 5)
    out["slow_clients"] = a = slow_clients(srv)
    print(f"   {name:9s} (a) {a['stalled']} stalled half requests: {a['probes']} "
          f"GET /healthz, slowest {a['slowest_s'] * 1000:.0f} ms, failed {a['failed']}: "
          f"{'held' if a['held'] else 'NOT held'}", flush=True)
    out["big_body"] = b = big_body(srv)
    for framing in ("length", "chunked"):
        f = b[framing]
        print(f"   {name:9s} (b) 20 MB {framing:7s}: {f['answer']} after "
              f"{f['written_at_answer'] / MiB:.1f} MiB written ({f['seconds']:.2f} s); "
              f"server peak RSS +{f['hwm_growth'] / MiB:.1f} MiB (sampled RSS "
              f"+{f['rss_peak_growth'] / MiB:.1f} MiB)", flush=True)
    print(f"   {name:9s} (b) {'held' if b['held'] else 'NOT held'}")
    if sigterm_too:
        out["sigterm"] = c = sigterm(srv, stub)
        refused = c["refused_new_after_s"]
        when = "not within 1.5 s" if refused is None else f"after {refused:.2f} s"
        print(f"   {name:9s} (c) SIGTERM with a request in flight: in flight answered "
              f"{c['in_flight']}, new connections refused {when}"
              f", exit {c['exit_code']} after {c['exit_s']:.1f} s"
              f"{', traceback logged' if c['traceback'] else ''}: "
              f"{'held' if c['held'] else 'NOT held'}", flush=True)
    return out


def summarize(rows: list[dict[str, Any]], servers: list[str]) -> dict[str, dict[str, float]]:
    """Per server, the median of each figure over the rounds."""
    import statistics

    out = {}
    for name in servers:
        mine = [r for r in rows if r["server"] == name]
        if mine:
            out[name] = {key: statistics.median(r[key] for r in mine) for key in (
                "healthz_per_s", "healthz_cpu_ms", "exports_per_s", "export_cpu_ms")}
    return out


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_uvicorn":
        run_uvicorn(sys.argv[2:])
    else:
        main()
