"""Building the daily digest for 100,000 active people: time and peak memory.

Populates a week of days for 100,000 people with the same in-Redis generator as the
leaderboard benchmark (the stored layout of tokens/cost/requests/points for every day,
ISO week, month and all-time), then times `DigestRunner.build(day)`: reading the boards
(the day, the day before, the week to date), ranking, correlations, Block Kit and the
PNG chart. Slack is left out: the deps have no Slack client, so names come from the
cache and nothing is posted. Peak memory is tracemalloc's peak of Python allocations
(numpy included) during one build, and the process's peak RSS growth.

    .venv/bin/python -m bench.digest [--quick]
"""

from __future__ import annotations

import resource
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench._common import machine, parse_args, private_redis, redis_version
from bench.leaderboard import populate
from bot.core.settings import Settings
from bot.runtime.app import build_deps
from jobs.digest import DigestRunner, rho_context


def cold_builds(client, deps, runner: DigestRunner, day, reps: int) -> list[float]:
    """Seconds per build, each with the board cache invalidated (`INCR gen`)."""
    times = []
    for _ in range(reps):
        client.incr(deps.store.keys.key("gen"))
        started = time.perf_counter()
        runner.build(day)
        times.append(time.perf_counter() - started)
    return times


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(__doc__.splitlines()[0], argv)
    people = 10_000 if args.quick else 100_000
    reps = 3 if args.quick else 5
    today = datetime.now(UTC).date()
    day = today - timedelta(days=1)
    days = [today - timedelta(days=k) for k in range(9)]
    print(f"== digest: build for {people:,} active people ({machine()})")
    with private_redis() as (server, client), tempfile.TemporaryDirectory() as tmp:
        print(f"   {redis_version(client)}")
        settings = Settings(redis_url=server.url, data_dir=Path(tmp), timezone="UTC",
                            digest_channel="C0DIGEST")
        import redis

        deps = build_deps(settings, redis.Redis.from_url(server.url, protocol=2))
        # The reported day and the 7 before it; today (the posting day) is empty, as at
        # 09:00. The worst case, today already as busy as a full day, is measured last.
        populate(client, deps.store, people, days[1:])
        runner = DigestRunner(deps)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        runner.build(day)  # warm-up: imports, matplotlib font cache
        times, peaks = [], []
        for _ in range(reps):
            client.incr(deps.store.keys.key("gen"))  # no cached boards: a full cold build
            tracemalloc.start()
            started = time.perf_counter()
            built = runner.build(day)
            times.append(time.perf_counter() - started)
            peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
        # the same builds without tracemalloc's overhead, for the time figure
        clean = cold_builds(client, deps, runner, day, reps)
        rss_growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
        # where the time goes
        client.incr(deps.store.keys.key("gen"))
        t0 = time.perf_counter()
        config = deps.store.configs.load()
        board = deps.leaderboards.board_for_bucket(
            __import__("bot.core.periods", fromlist=["day_bucket"]).day_bucket(day), config)
        t1 = time.perf_counter()
        runner.build(day, config)  # day board now cached: the rest of the build
        t2 = time.perf_counter()
        print(f"   one cold build: median {statistics.median(clean) * 1000:.0f} ms, "
              f"max {max(clean) * 1000:.0f} ms over {reps} (target < 1 s); "
              f"{len(built.blocks)} blocks, chart {len(built.png or b''):,} bytes")
        print(f"   of which the day's board (read + rank): {(t1 - t0) * 1000:.0f} ms; the rest "
              f"(day before, week to date, Block Kit, chart): {(t2 - t1) * 1000:.0f} ms")
        print(f"   peak Python memory during a build (tracemalloc): "
              f"{max(peaks) / 2**20:.0f} MiB (target < 300 MB); peak RSS growth of the "
              f"process: {rss_growth:.0f} MiB")
        print(f"   sanity: {len(board.raw):,} people ranked; rho = "
              f"{board.agreement.spearman:.3f}")
        # steady state: yesterday's digest published its day's rho, so it is not re-read
        config = deps.store.configs.load()
        deps.store.digests.record_published_rho(day - timedelta(days=1),
                                                rho_context(config, frozenset()), 0.0)
        steady = cold_builds(client, deps, runner, day, reps)
        print(f"   steady state, the day before's rho published by its own digest: median "
              f"{statistics.median(steady) * 1000:.0f} ms, max {max(steady) * 1000:.0f} ms")
        populate(client, deps.store, people, days)  # now today is a full day as well
        worst = cold_builds(client, deps, runner, day, reps)
        print(f"   worst case, the posting day already as busy as a full day (its reports "
              f"are subtracted from the week): median {statistics.median(worst) * 1000:.0f} ms")
        return {"median_s": statistics.median(clean), "max_s": max(clean),
                "worst_median_s": statistics.median(worst),
                "steady_median_s": statistics.median(steady),
                "peak_mib": max(peaks) / 2**20, "rss_growth_mib": rss_growth}


if __name__ == "__main__":
    main()
