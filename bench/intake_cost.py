"""The cost of intake per event and per export, in process (no HTTP, no sockets but Redis),
beside a baseline checkout of the code in the same run.

Two paths, each through the real Flask app (`build_deps` → Bolt → `WebApp`), called
directly as WSGI, one request at a time:

- **otlp**: a Claude Code-shaped export (`bench.otlp_exports.ExportBuilder`: protobuf,
  delta, 8 data points, one person each) to `POST /v1/metrics`; the people's `email:`
  identities are linked in advance (`Store.identity_map.link`), so no Slack look-up is
  involved; 100 people, each exporting once in the warm-up (the steady state: every
  exporter has been seen before, as each exports every minute);
- **ingest**: `POST /ingest` batches of 50 events (75 % usage, 25 % outcome; the workload
  of `bench.ingest`), 2,000 people over three days, user ids given.

Measured per request, after a warm-up: Python CPU (`time.process_time`, which the other
processes on a loaded machine do not inflate much), Redis command time (INFO
commandstats: the scripts' EVALSHAs with their inner calls; SLOWLOG at 0 over a few more
requests tells which commands are top-level and how many calls the scripts make),
redis-server's CPU, Redis commands and round trips (a counting connection class: one
socket write per command or pipeline).

The baseline is the same driver run against another commit's `bot/` (extracted with
`git archive` into a temporary directory; default: where this branch left `main`), in the
same run: figures side by side. Each path of each tree runs in a child process of its
own, on a Redis of its own (`each_path`).

    python -m bench.intake_cost [--quick] [--baseline REF|none] [--only otlp|ingest]
    python -m bench.intake_cost --child --only otlp --rounds 3000   # e.g. under py-spy
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BATCH = 50
PEOPLE = 2_000  # /ingest: people over three days
UNITS = {"otlp": "export", "ingest": "event"}  # the paths, and what one report of each is
OTLP_PEOPLE = 100  # OTLP: each exports once in the warm-up, then again and again


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True,
                          check=True).stdout.strip()


def default_baseline() -> str:
    """Where this branch left `main` (the code before this branch's changes), else HEAD."""
    try:
        return _git("merge-base", "HEAD", "main")
    except subprocess.CalledProcessError:
        return _git("rev-parse", "HEAD")


def checkout(ref: str, into: Path) -> Path:
    """`bot/`, `handlers/` and `jobs/` of `ref` in `into`, with this tree's bench/ and tests/
    beside it."""
    archive = subprocess.run(["git", "archive", ref, "bot", "handlers", "jobs"], cwd=REPO,
                             capture_output=True,
                             check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    for name in ("bench", "tests"):
        (into / name).symlink_to(REPO / name)
    return into


# -- the child: one code tree, measured -----------------------------------------------------

def _slowlog(client: Any) -> tuple[int, int, int, dict[str, int]]:
    """(µs, commands, scripts' inner calls, calls by name) of the commands logged since
    the reset. A script's inner calls (client `?:0`) are inside its EVALSHA's time."""
    entries = client.slowlog_get(1_000_000)
    usec, calls, inner, names = 0, 0, 0, {}
    for e in entries:
        if e.get("client_address") in (b"?:0", "?:0"):
            inner += 1
            continue
        name = (e["command"].split(b" ", 1)[0] if isinstance(e["command"], bytes)
                else str(e["command"]).split(" ", 1)[0]).lower()
        name = name.decode() if isinstance(name, bytes) else name
        if name in ("slowlog", "info", "config", "client"):
            continue
        usec += int(e["duration"])
        calls += 1
        names[name] = names.get(name, 0) + 1
    return usec, calls, inner, names


def _stats(client: Any) -> dict[str, tuple[int, int]]:
    """command → (calls, µs) from INFO commandstats."""
    return {k.removeprefix("cmdstat_"): (int(v["calls"]), int(v["usec"]))
            for k, v in client.info("commandstats").items()}


def _measure(client: Any, requests: Sequence[Callable[[], None]], warm: int,
             per: int, redis_pid: int, logged: int = 40) -> dict[str, Any]:
    """Time the requests after `warm` of them with SLOWLOG off (INFO commandstats: the
    EVALSHAs' own time, and for the other top-level commands their calls × the µs per
    call of that command), then run `logged` more with SLOWLOG at 0 to see which
    commands are top-level and how many calls the scripts make."""
    from bench._common import CountingConnection, cpu_seconds

    for call in requests[:warm]:
        call()
    timed = requests[warm:len(requests) - logged]
    client.config_set("slowlog-log-slower-than", -1)
    stats0, sends0 = _stats(client), CountingConnection.sends
    cpu0, redis0 = time.process_time(), cpu_seconds(redis_pid)
    for call in timed:
        call()
    cpu, redis_cpu = time.process_time() - cpu0, cpu_seconds(redis_pid) - redis0
    sends, stats1 = CountingConnection.sends - sends0, _stats(client)
    client.config_set("slowlog-log-slower-than", 0)
    client.slowlog_reset()
    for call in requests[len(requests) - logged:]:
        call()
    _usec, commands, inner, names = _slowlog(client)
    client.config_set("slowlog-log-slower-than", -1)
    n = len(timed)
    delta = {k: (c - stats0.get(k, (0, 0))[0], u - stats0.get(k, (0, 0))[1])
             for k, (c, u) in stats1.items()}
    usec = 0.0
    for name, count in names.items():  # per logged request, scaled to n requests
        calls, spent = delta.get(name, (0, 0))
        if name in ("evalsha", "eval"):
            usec += spent
        elif calls:
            usec += count / logged * n * spent / calls
    return {"requests": n, "python_us": cpu / n / per * 1e6,
            "redis_us": usec / n / per, "redis_cpu_us": redis_cpu / n / per * 1e6,
            "commands": commands / logged,
            "script_calls_per_event": inner / logged / per,
            "round_trips": sends / n, "by_command": names}


def child(args: argparse.Namespace, start_timeout: float = 10.0,
          measure: Callable[..., dict[str, Any]] = _measure) -> dict[str, Any]:
    """Measure this process's `bot` (whatever sys.path gave) and print JSON.
    `start_timeout`: for redis-server to answer; `measure(client, requests, warm, per,
    redis_pid)`: what is measured (`bench.instructions` counts instructions instead, its
    redis-server under callgrind)."""
    from bench._common import (
        app_settings,
        counting_client,
        post_environ,
        private_redis,
        slack_stub,
    )
    from bench.ingest import make_events
    from bench.otlp_exports import ExportBuilder, email, slack_id
    from bot.runtime.app import build_bolt_app, build_deps
    from bot.web.app import build_web_app

    rounds = args.rounds
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="tokenboard-intake-") as tmp, \
            private_redis(start_timeout) as (server, admin), slack_stub() as stub:
        admin.config_set("slowlog-max-len", 1_000_000)
        admin.client_setname("bench")
        client = counting_client(server.url)
        deps = build_deps(app_settings(server.url, stub.url, Path(tmp) / "data"), client)
        wsgi = build_web_app(deps, build_bolt_app(deps))
        statuses: list[str] = []

        def respond(status: str, headers: list, exc: Any = None) -> None:
            statuses.append(status)

        def post(path: str, body: bytes, content_type: str) -> Callable[[], None]:
            def call() -> None:
                answer = b"".join(wsgi(post_environ(path, body, content_type), respond))
                if not statuses[-1].startswith("200"):
                    raise RuntimeError(f"{path}: {statuses[-1]} {answer[:300]!r}")
            return call

        if args.only in (None, "otlp"):
            people = min(OTLP_PEOPLE, rounds // 3)
            for i in range(people):
                deps.store.identity_map.link(f"email:{email(i)}", slack_id(i))
            builder, rng = ExportBuilder(), random.Random(5)
            base = time.time_ns() - 120 * 10**9
            bodies = [builder.build(j % people, base - j * 1_000_000, rng).body
                      for j in range(rounds)]
            calls = [post("/v1/metrics", b, "application/x-protobuf") for b in bodies]
            out["otlp"] = measure(admin, calls, people, 1, server.process.pid)
        if args.only in (None, "ingest"):
            events = make_events(rounds * BATCH, PEOPLE, datetime.now(UTC), seed=3)
            calls = [post("/ingest", json.dumps({"events": events[i:i + BATCH]}).encode(),
                          "application/json") for i in range(0, len(events), BATCH)]
            out["ingest"] = measure(admin, calls, min(20, rounds // 10), BATCH,
                                    server.process.pid)
        client.close()
    return out


# -- the parent: both trees, side by side -----------------------------------------------------

def run_child(root: Path, argv: Sequence[str], module: str = "bench.intake_cost",
              prefix: Sequence[str] = (), env: Mapping[str, str] | None = None
              ) -> dict[str, Any]:
    """`python -m <module> --child <argv>` on the tree at `root` (after `prefix`, e.g.
    valgrind, with `env` added): the JSON it prints last."""
    proc = subprocess.run([*prefix, sys.executable, "-m", module, "--child", *argv],
                          cwd=root, env={**os.environ, "PYTHONPATH": str(root), **(env or {})},
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"child in {root} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def each_path(root: Path, paths: Sequence[str], rounds: int,
              run: Callable[[Path, list[str]], dict[str, Any]] = run_child
              ) -> dict[str, Any]:
    """Each path measured by `run` in a child of its own, on a Redis of its own: after
    OTLP exports, a tool is first heard from OpenTelemetry, and /ingest's usage of it would
    be refused as counted elsewhere (and the other way round)."""
    found: dict[str, Any] = {}
    for path in paths:
        found.update(run(root, ["--rounds", str(rounds), "--only", path]))
    return found


def tree_parser(doc: str, quick_help: str | None = None,
                rounds_help: str = argparse.SUPPRESS) -> argparse.ArgumentParser:
    """The options this benchmark and `bench.instructions` share: --quick, --baseline,
    --only, --rounds and the hidden --child."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0].replace("\n", " "))
    p.add_argument("--quick", action="store_true", help=quick_help)
    p.add_argument("--baseline", default=None,
                   help="git ref of the baseline's bot/ (default: merge-base with main); "
                        "'none' for no baseline")
    p.add_argument("--only", choices=tuple(UNITS), default=None)
    p.add_argument("--rounds", type=int, default=None, help=rounds_help)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return p


@contextlib.contextmanager
def trees(baseline: str | None, subject: bool = True) -> Iterator[dict[str, Path]]:
    """"baseline" (the `bot/` of `baseline`, default: where this branch left main; none
    for "none") and "this tree", by root, the baseline extracted for as long as this
    lasts; says which commit (and its subject) the baseline is."""
    ref = baseline or default_baseline()
    with tempfile.TemporaryDirectory(prefix="tokenboard-baseline-") as tmp:
        found = {"this tree": REPO}
        if ref != "none":
            found = {"baseline": checkout(ref, Path(tmp)), **found}
            about = f" ({_git('log', '-1', '--format=%s', ref)[:70]})" if subject else ""
            print(f"   baseline: bot/ of {ref[:12]}{about}")
        yield found


def as_child(args: argparse.Namespace, child: Callable[[argparse.Namespace], dict[str, Any]],
             quick: int, full: int) -> dict[str, Any] | None:
    """Set the rounds (given, or `quick` / `full`); with --child, run `child` and print its
    JSON for the parent (`run_child`), and return it; else None."""
    args.rounds = args.rounds or (quick if args.quick else full)
    if not args.child:
        return None
    result = child(args)
    print(json.dumps(result))
    return result


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = tree_parser(__doc__, rounds_help="exports, and batches of 50 (default 1,000; "
                                         "--quick 300)")
    p.add_argument("--repeat", type=int, default=None,
                   help="alternate baseline and this tree this many times (default 2; "
                        "--quick 1)")
    return p.parse_args(argv)


def _row(name: str, r: dict[str, Any], unit: str) -> str:
    return (f"   {name:28s} {r['python_us']:9.1f} {r['redis_us']:9.1f} "
            f"{r['redis_cpu_us']:9.1f} "
            f"{r['commands']:9.2f} {r['round_trips']:9.2f} "
            f"{r['script_calls_per_event']:9.1f}")


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    if (result := as_child(args, child, 300, 1_000)) is not None:
        return result
    from bench._common import code_version, machine

    repeat = args.repeat or (1 if args.quick else 2)
    paths = [args.only] if args.only else list(UNITS)
    print(f"== intake_cost: in-process Python CPU, Redis command time, commands and round "
          f"trips; OTLP export (8 points, protobuf, people linked) and /ingest batches of "
          f"{BATCH}; {args.rounds:,} requests per path ({machine()}; {code_version()})")
    runs: dict[str, list[dict[str, Any]]] = {"baseline": [], "this tree": []}
    with trees(args.baseline) as roots:
        for _ in range(repeat):
            for name, root in roots.items():
                runs[name].append(each_path(root, paths, args.rounds))
    results: dict[str, Any] = {}
    for path, unit in UNITS.items():
        if args.only not in (None, path):
            continue
        print(f"   {path} (per {unit}: Python CPU µs, Redis command µs, redis-server CPU µs; "
              f"per request: commands, round trips; per {unit}: redis.calls in scripts)")
        for name, rs in runs.items():
            for k, r in enumerate(rs):
                print(_row(f"{name} #{k + 1}", r[path], unit))
                results.setdefault(path, {}).setdefault(name, []).append(r[path])
        top = sorted(runs["this tree"][-1][path]["by_command"].items(), key=lambda x: -x[1])
        print(f"     this tree's top-level commands: {dict(top[:8])}")
    return results


if __name__ == "__main__":
    main()
