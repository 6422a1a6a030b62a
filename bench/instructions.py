"""Instructions per report, counted by valgrind's callgrind: the app's Python and the
counting scripts' Redis work, for `bench.intake_cost`'s two workloads (an OTLP export of
8 points; `/ingest` batches of 50), beside a baseline checkout of the code in the same
run.

Timing on a shared 2-core box swings ±20 % from run to run; the number of instructions a
process executes does not (the same code and workload give the same count to a few parts
in a thousand). So this is the figure to compare two versions of the code by;
`bench.intake_cost` gives the time. Instructions are not time: a cache miss is one
instruction and ~100 ns, so a change that saves instructions saves less time than its
share says.

- **Python**: the process that runs the app in process (`build_deps` → Bolt →
  `WebApp`, called as WSGI) runs under callgrind with instrumentation off; it is turned on
  after the warm-up and the count is dumped after the measured requests: the whole
  request (routing, decoding, counting, redis-py), nothing of the warm-up or the set-up.
  Python's hash seed is fixed so that dict order, and so the count, repeats.
- **Redis**: redis-server runs under callgrind counting only inside EVALSHA
  (`--toggle-collect=evalGenericCommand`), zeroed after the warm-up: the counting
  scripts' own work, their Lua and the commands they call.

Needs valgrind (`apt-get install valgrind`); without it, a line says so and nothing runs.

    python -m bench.instructions [--quick] [--baseline REF|none] [--only otlp|ingest]
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import intake_cost
from bench.intake_cost import UNITS


def _control(*args: str) -> None:
    subprocess.run(["callgrind_control", *args], check=True, capture_output=True)


def _instructions(pattern: str) -> int:
    """Ir of the last dump callgrind wrote to files matching `pattern`."""
    dumps = sorted(glob.glob(pattern), key=os.path.getmtime)
    for line in Path(dumps[-1]).read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {dumps[-1]}")


def child(args: argparse.Namespace) -> dict[str, Any]:
    """Run `bench.intake_cost`'s workloads on this process's `bot` (itself under
    callgrind, instrumentation off) with redis-server under callgrind too; the
    instructions per export or event of each, after the warm-up."""
    from bot.store import embedded

    out_dir = Path(args.out_dir)
    wrapper = out_dir / "redis-server"  # the embedded server, started under callgrind
    wrapper.write_text(
        "#!/bin/sh\nexec valgrind --tool=callgrind "
        f"--callgrind-out-file={out_dir}/redis.out --collect-atstart=no "
        f"--toggle-collect=evalGenericCommand {embedded.redis_server_binary()} \"$@\"\n")
    wrapper.chmod(0o755)
    embedded.redis_server_binary = lambda: str(wrapper)  # EmbeddedRedis has no other hook
    me = str(os.getpid())

    def measure(client: Any, requests: Sequence[Any], warm: int, per: int,
                redis_pid: int) -> dict[str, Any]:
        for call in requests[:warm]:
            call()
        _control("--zero", str(redis_pid))
        _control("--instr=on", me)
        for call in requests[warm:]:
            call()
        _control("--dump", me)
        _control("--instr=off", me)
        _control("--dump", str(redis_pid))
        n = (len(requests) - warm) * per
        return {"reports": n,
                "python": _instructions(f"{out_dir}/python.out.*") / n,
                "redis": _instructions(f"{out_dir}/redis.out*") / n}

    return intake_cost.child(args, start_timeout=120, measure=measure)


def run_child(root: Path, argv: list[str]) -> dict[str, Any]:
    """`intake_cost.run_child` of this module, under callgrind, hash seed fixed."""
    with tempfile.TemporaryDirectory(prefix="tokenboard-callgrind-") as out_dir:
        return intake_cost.run_child(
            root, ["--out-dir", out_dir, *argv], module="bench.instructions",
            prefix=["valgrind", "--tool=callgrind", "--instr-atstart=no",
                    f"--callgrind-out-file={out_dir}/python.out"],
            env={"PYTHONHASHSEED": "0"})


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = intake_cost.tree_parser(__doc__, quick_help="100 requests per path, not 300")
    p.add_argument("--out-dir", default="", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    if (result := intake_cost.as_child(args, child, 100, 300)) is not None:
        return result
    from bench._common import code_version, machine

    if not (shutil.which("valgrind") and shutil.which("callgrind_control")):
        print("== instructions: skipped (valgrind is not installed: apt-get install valgrind)")
        return {}
    paths = [args.only] if args.only else list(UNITS)
    print(f"== instructions: per report, Python (the app in process) and Redis (inside the "
          f"counting scripts), callgrind, after the warm-up; {args.rounds:,} requests per "
          f"path ({machine()}; {code_version()})")
    with intake_cost.trees(args.baseline, subject=False) as roots:
        results = {name: intake_cost.each_path(root, paths, args.rounds, run=run_child)
                   for name, root in roots.items()}
    for path, unit in UNITS.items():
        if args.only not in (None, path):
            continue
        for side in ("python", "redis"):
            line = [f"   {path} {side:6s} (instructions per {unit}):"]
            for name, r in results.items():
                line.append(f"{name} {r[path][side]:,.0f}")
            if len(results) == 2:
                base, now = (results[n][path][side] for n in ("baseline", "this tree"))
                line.append(f"({(now - base) / base:+.1%})")
            print("  ".join(line))
    return results


if __name__ == "__main__":
    main()
