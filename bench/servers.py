"""The HTTP server: the same WSGI app under gunicorn (as `tokenboard serve` runs it) and
under alternatives, side by side: GET /healthz and Claude Code-shaped OTLP exports per
second, server CPU per request, and whether each server keeps the guarantees of ours.

Servers, each one web process serving the app `tokenboard serve` builds (`build_deps` →
`build_bolt_app` → `build_web_app`, the same environment for all):

- `gunicorn`: `python -m bot serve` itself (WEB_CONCURRENCY=1, WEB_THREADS threads, the
  buffering worker `bot.web.buffering_worker.BufferingWorker`, SERVE_JOBS=off): a master
  and one worker process.
- `granian`: granian's WSGI interface, 1 worker, WEB_THREADS blocking threads
  (`python -m granian --interface wsgi --factory bench.wsgi_servers:wsgi_app`): a main
  process and one worker process. Skipped with a line saying so when granian is not
  installed (`pip install '.[bench]'`).
- `uvicorn`: uvicorn (h11) in front of a2wsgi's WSGI-to-ASGI adapter with WEB_THREADS
  threads, one process. Skipped likewise when uvicorn or a2wsgi is missing.

Throughput: every server is started once; then, for each of --rounds rounds, each server in
turn (the order rotates every round) gets GET /healthz then exports to `POST /v1/metrics`,
from the same load generator with the same 32 connections (`bench.otlp`'s, in
`bench.loadgen`: wrk when installed, else a Python process). The exports are `bench.otlp`'s
(`bench.otlp_exports`: protobuf, delta, 8 points, one person each), the people's `email:`
identities linked in advance, so an export is one Redis round trip. Server CPU is read from
/proc/<pid>/stat of every process of the server (utime + stime), before and after each
run. At the end every export sent must be counted exactly once (the all-time board's
tokens and `gen`).

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
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import loadgen
from bench._common import WORKSPACE, machine, private_redis, redis_version, slack_stub
from bench.export_runs import measure, settle, wait_idle
from bench.loadgen import CONNECTIONS, LoadGen
from bench.otlp_exports import POINTS, build_workload, link_people
from bench.server_guarantees import guarantees
from bench.wsgi_servers import SERVERS, missing, server_env, start
from bot.core.periods import ALL
from bot.store.embedded import free_port


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="2,000 people, 3 rounds of 1 s + 2 s runs, no SIGTERM check")
    parser.add_argument("--rounds", type=int, default=0)
    parser.add_argument("--duration", type=float, default=0, help="seconds per export run")
    parser.add_argument("--servers", default=",".join(SERVERS))
    parser.add_argument("--threads", type=int, default=8, help="WEB_THREADS for every server")
    loadgen.add_option(parser)
    parser.add_argument("--no-guarantees", action="store_true")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    people = 2_000 if args.quick else 20_000
    rounds = args.rounds or 3
    seconds = args.duration or (2.0 if args.quick else 10.0)  # wrk takes whole seconds
    health_seconds = 1.0 if args.quick else 5.0
    kind = loadgen.kind(args.loadgen)
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
    main()
