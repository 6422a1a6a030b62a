"""Redis's work per report, counted in instructions: `bench.intake_cost`'s two workloads
(an OTLP export of 8 points; `/ingest` batches of 50) against a redis-server run under
valgrind's callgrind, beside a baseline checkout of the code in the same run.

Timing Redis on a shared 2-core box swings ±20 % from run to run; the number of
instructions Redis executes does not (the same code and workload give the same count to
a few parts in a thousand). So this is the figure to compare two versions of the
counting scripts by; `bench.intake_cost` gives the time.

Callgrind counts only inside EVALSHA (`--toggle-collect=evalGenericCommand`), after the
warm-up (its counters are zeroed once the warm-up's requests are in), so the figure is
the counting scripts' own work: their Lua and the commands they call. Needs valgrind
(`apt-get install valgrind`); without it, a line says so and nothing runs.

    python -m bench.script_cost [--quick] [--baseline REF|none] [--only otlp|ingest]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import intake_cost
from bench.intake_cost import REPO, checkout, default_baseline

UNITS = {"otlp": ("export", 1), "ingest": ("event", intake_cost.BATCH)}


def _control(*args: str) -> None:
    subprocess.run(["callgrind_control", *args], check=True, capture_output=True)


def _instructions(out_dir: Path) -> int:
    """Ir of the last dump callgrind wrote in `out_dir`."""
    dumps = sorted(glob.glob(str(out_dir / "cg.out*")), key=os.path.getmtime)
    for line in Path(dumps[-1]).read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {dumps[-1]}")


def child(args: argparse.Namespace) -> dict[str, Any]:
    """Run `bench.intake_cost`'s workloads on this process's `bot` with redis-server
    under callgrind; the instructions per export or event after the warm-up."""
    from bot.store import embedded

    out_dir = Path(tempfile.mkdtemp(prefix="tokenboard-callgrind-"))
    wrapper = out_dir / "redis-server"  # the embedded server, started under callgrind
    wrapper.write_text(
        "#!/bin/sh\nexec valgrind --tool=callgrind "
        f"--callgrind-out-file={out_dir}/cg.out --collect-atstart=no "
        f'--toggle-collect=evalGenericCommand {embedded.redis_server_binary()} "$@"\n'
    )
    wrapper.chmod(0o755)
    embedded.redis_server_binary = lambda: str(wrapper)
    found: dict[str, Any] = {}

    def measure(
        client: Any, requests: Sequence[Any], warm: int, per: int, redis_pid: int, logged: int = 0
    ) -> dict[str, Any]:
        for call in requests[:warm]:
            call()
        _control("--zero", str(redis_pid))
        for call in requests[warm:]:
            call()
        _control("--dump", str(redis_pid))
        n = len(requests) - warm
        return {"requests": n, "instructions": _instructions(out_dir) / n / per}

    intake_cost._measure = measure  # the same workload, measured by instructions
    try:
        found = intake_cost.child(args, start_timeout=120)
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
    return found


def run_child(root: Path, argv: list[str]) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    proc = subprocess.run(
        [sys.executable, "-m", "bench.script_cost", "--child", *argv],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"child in {root} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="100 requests per path, not 300")
    p.add_argument(
        "--baseline",
        default=None,
        help="git ref of the baseline's bot/ (default: merge-base with main); "
        "'none' for no baseline",
    )
    p.add_argument("--only", choices=tuple(UNITS), default=None)
    p.add_argument("--rounds", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    args.rounds = args.rounds or (100 if args.quick else 300)
    if args.child:
        result = child(args)
        print(json.dumps(result))
        return result
    from bench._common import code_version, machine

    if not (shutil.which("valgrind") and shutil.which("callgrind_control")):
        print("== script_cost: skipped (valgrind is not installed: apt-get install valgrind)")
        return {}
    ref = args.baseline or default_baseline()
    passed = ["--rounds", str(args.rounds)] + (["--only", args.only] if args.only else [])
    print(
        f"== script_cost: Redis instructions per report inside the counting scripts "
        f"(callgrind; after the warm-up); {args.rounds:,} requests per path "
        f"({machine()}; {code_version()})"
    )
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="tokenboard-baseline-") as tmp:
        trees = {"this tree": REPO}
        if ref != "none":
            trees = {"baseline": checkout(ref, Path(tmp)), **trees}
            print(f"   baseline: bot/ of {ref[:12]}")
        for name, root in trees.items():
            results[name] = run_child(root, passed)
    for path, (unit, _) in UNITS.items():
        if args.only not in (None, path):
            continue
        line = [f"   {path} (instructions per {unit}):"]
        for name, r in results.items():
            line.append(f"{name} {r[path]['instructions']:,.0f}")
        if len(results) == 2:
            base, now = (results[n][path]["instructions"] for n in ("baseline", "this tree"))
            line.append(f"({(now - base) / base:+.1%})")
        print("  ".join(line))
    return results


if __name__ == "__main__":
    main()
