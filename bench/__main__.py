"""Run every benchmark in sequence and print their figures: `python -m bench [--quick] [name...]`.

Each benchmark starts its own redis-server (and Slack stub) and stops it when done. The
figures are printed, never asserted; a benchmark that crashes is reported and the run
goes on (exit status 1 at the end). Names pick a subset, e.g. `python -m bench ingest`.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from bench._common import code_version, machine, percentile
from bench.intake_cost import UNITS

# The benchmarks `python -m bench` runs, each a module with a main(argv); the heavy ones
# (GBs of sorted sets) last.
BENCHMARKS = ["slash_latency", "intake_cost", "instructions", "ingest", "otlp", "vendor_import",
              "scale_out", "memory", "teams", "leaderboard", "digest", "rebuild", "monday"]


def load(name: str) -> Callable[[Sequence[str]], Any]:
    return importlib.import_module(f"bench.{name}").main


def summary(results: dict[str, Any]) -> list[str]:
    lines = []
    if r := results.get("ingest"):
        lines.append(f"ingest        app {r['app_events_per_s']:,.0f} events/s vs plain redis-py "
                     f"{r['plain_events_per_s']:,.0f} = {r['ratio']:.2f}x (target >= 0.5x)")
    if r := results.get("intake_cost"):
        for path, unit in sorted(UNITS.items()):  # ingest, then otlp
            if path not in r:
                continue
            ours = r[path]["this tree"]
            base = r[path].get("baseline") or [{}]
            best = {k: min(x[k] for x in ours) for k in ("python_us", "redis_cpu_us",
                                                         "round_trips")}
            was = {k: min(x.get(k, float("nan")) for x in base)
                   for k in ("python_us", "redis_cpu_us", "round_trips")}
            lines.append(f"intake_cost   {path} per {unit}: Python {best['python_us']:.0f} us "
                         f"(baseline {was['python_us']:.0f}), Redis CPU "
                         f"{best['redis_cpu_us']:.0f} us (baseline {was['redis_cpu_us']:.0f}), "
                         f"{best['round_trips']:.1f} round trips (baseline "
                         f"{was['round_trips']:.1f})")
    if r := results.get("instructions"):
        for path, unit in sorted(UNITS.items()):  # ingest, then otlp
            if path in r.get("this tree", {}):
                now, was = r["this tree"][path], r.get("baseline", {}).get(path)
                lines.append(f"instructions  {path} per {unit}: Python {now['python']:,.0f}, "
                             f"Redis {now['redis']:,.0f}" + (
                                 f" (baseline {was['python']:,.0f} and {was['redis']:,.0f})"
                                 if was else ""))
    if r := results.get("otlp"):
        b = r["best"]
        per = ", ".join(f"{n} proc {c['exports_per_s']:,.0f}" for n, c in r["configs"].items())
        lines.append(f"otlp          {b['exports_per_s']:,.0f} exports/s at best ({per}; "
                     f"target >= 1,700); /healthz {b['healthz_per_s']:,.0f} req/s; per export "
                     f"{b['server_ms_per_export']:.2f} ms server CPU + "
                     f"{b['redis_us_per_export']:.0f} us Redis; load generator {r['loadgen']}")
    if r := results.get("scale_out"):
        lines.append("scale_out     " + "; ".join(
            f"{k} serve {v['events_per_s']:,.0f} events/s, board p99 {v['board_p99_ms']:.0f} ms"
            for k, v in r.items()))
    if r := results.get("vendor_import"):
        lines.append(f"vendor_import Copilot NDJSON {r['import_new_rows_per_s']:,.0f} rows/s new, "
                     f"{r['import_unchanged_rows_per_s']:,.0f} unchanged, "
                     f"{r['import_tenth_corrected_rows_per_s']:,.0f} a tenth corrected; "
                     f"POST /ingest {r['ingest_events_per_s']:,.0f} events/s ({r['rows']:,} "
                     "rows)")
    if r := results.get("slash_latency"):
        base = r["minimal Bolt ack()"]["p50"]
        worst = max(v["p50"] for k, v in r.items() if k.startswith("ours"))
        lines.append(f"slash_latency ours p50 {worst * 1000:.2f} ms vs minimal Bolt "
                     f"{base * 1000:.2f} ms = {worst / base:.2f}x (target <= 2x)")
    if r := results.get("memory"):
        lines.append(f"memory        {r['bytes_per_person_day']:,.0f} bytes per person-day as "
                     f"measured, {r['projected_100k_x_30']:,.0f} projected at 100,000 x 30 days "
                     f"(target <= 500); {r['ids_share']:.0%} event ids")
    if r := results.get("leaderboard"):
        cold = [x for k, v in r.items() if k.endswith("/cold") for x in v["e2e"]]
        warm = [x for k, v in r.items() if k.endswith("/warm") for x in v["e2e"]]
        acks = [x for v in r.values() for x in v["ack"]]
        slowest = max((v["slowest"] or (0, "")) for v in r.values())
        lines.append(f"leaderboard   ack p99 {percentile(acks, 99) * 1000:.1f} ms; e2e p50 cold "
                     f"{percentile(cold, 50) * 1000:.0f} ms, warm "
                     f"{percentile(warm, 50) * 1000:.1f} ms; slowest Redis command "
                     f"{slowest[0]} us (target <= 10,000 us)")
    if r := results.get("monday"):
        lines.append(f"monday        ack p99 {r['ack_p99'] * 1000:.1f} ms vs ack-only Bolt "
                     f"{r['ack_only_p99'] * 1000:.1f} ms = {r['ack_ratio']:.2f}x (target <= 1.5x); "
                     f"board p99 {r['board_p99'] * 1000:.0f} ms (target <= 50 ms); ingest "
                     f"{r['ingest_events_per_s']:,.0f} events/s (asked 2,000); "
                     f"{r['slow_commands']} Redis commands over 10 ms")
    if r := results.get("teams"):
        lines.append(f"teams         {r['people']:,} people in {r['teams']:,} teams: read p50 "
                     f"{r['read_p50_ms']:.1f} ms ({r['read_commands']} commands), build "
                     f"{r['build_s']:.1f} s (slowest command {r['build_slowest_command_us']:,} "
                     f"us); ingest {r['ingest_in_teams_per_s']:,.0f}/s in teams vs "
                     f"{r['ingest_no_team_per_s']:,.0f}/s")
    for name in ("digest", "rebuild"):
        if isinstance(r := results.get(name), dict):
            figures = ", ".join(f"{k} {v:,.3g}" for k, v in r.items()
                                if isinstance(v, int | float))
            lines.append(f"{name:13s} {figures}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, passed on")
    parser.add_argument("names", nargs="*", metavar="name",
                        help=f"run only these ({', '.join(BENCHMARKS)})")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; "
                     f"choose from {', '.join(BENCHMARKS)}")
    passed = ["--quick"] if args.quick else []
    chosen = args.names or BENCHMARKS
    print(f"tokenboard benchmarks{' (quick)' if args.quick else ''} on {machine()}; "
          f"{code_version()}; {time.strftime('%Y-%m-%d %H:%M %Z')}")
    results: dict[str, Any] = {}
    failed = []
    start = time.perf_counter()
    for name in chosen:
        t0 = time.perf_counter()
        try:
            results[name] = load(name)(passed)
        except Exception:
            failed.append(name)
            print(f"!! {name} failed:")
            traceback.print_exc()
        print(f"   ({name}: {time.perf_counter() - t0:.0f} s)\n", flush=True)
        gc.collect()
    print(f"== summary ({time.perf_counter() - start:.0f} s in all)")
    for line in summary(results):
        print("   " + line)
    if failed:
        print(f"   FAILED: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
