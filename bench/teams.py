"""The team board at 100,000 people in 1,000 teams: read, build, and what teams add to ingest.

Fills one week's tokens and points sets with 100,000 people (as the counting scripts keep
them) and 1,000 teams of 100 (every tenth person also in a second team), then measures:
- a team board read (`TeamStore.period_totals`) on built team sets: p50/p99 over 200
  reads, and the Redis commands one read runs (whatever the number of people);
- the build after a roster change: total time, and the slowest single team call (no
  command may hold Redis for long);
- ingest: usage reports per second through `Store.record` for people in two teams vs.
  people in none (the hook's cost), with the team sets built.

    .venv/bin/python -m bench.teams [--quick]
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from bench._common import (
    command_stats,
    machine,
    parse_args,
    percentile,
    private_redis,
    redis_version,
    stats_delta,
)
from bot.core.config import BoardConfig
from bot.core.periods import week_bucket
from bot.sources.reports import UsageReport, as_counts
from bot.store.store import Store
from bot.store.teams import TeamInfo, TeamStore


def populate(store: Store, people: int, teams: int) -> dict[str, set[str]]:
    week = week_bucket(datetime.now(UTC).date())
    users = [f"U{i:07d}" for i in range(people)]
    pipe = store.r.pipeline(transaction=False)
    for i, u in enumerate(users):
        pipe.zadd(store.keys.board("tokens", week), {u: 1000 + (i * 7919) % 500_000})
        pipe.zadd(store.keys.board("points", week), {u: (i * 104729) % 50})
        if len(pipe) >= 10_000:
            pipe.execute()
    pipe.execute()
    rosters: dict[str, set[str]] = {f"team-{j:04d}": set() for j in range(teams)}
    names = list(rosters)
    for i, u in enumerate(users):
        rosters[names[i % teams]].add(u)
        if i % 10 == 0:
            rosters[names[(i * 31 + 7) % teams]].add(u)
    return rosters


def ingest_rate(store: Store, users: list[str], n: int, tag: str) -> float:
    config = BoardConfig()
    now = datetime.now(UTC)
    reports = [(UsageReport(id=f"{tag}{i}", type="usage", user=users[i % len(users)], ts=now,
                            tool="t", tokens=100), users[i % len(users)]) for i in range(n)]
    started = time.perf_counter()
    for start in range(0, n, 100):
        store.counting.record([(as_counts(r), who) for r, who in reports[start:start + 100]],
                              config)
    return n / (time.perf_counter() - started)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(__doc__.splitlines()[0], argv)
    people, teams = (10_000, 100) if args.quick else (100_000, 1_000)
    with private_redis() as (_, client):
        store = Store(client)
        team_store = TeamStore(store)
        started = time.perf_counter()
        rosters = populate(store, people, teams)
        team_store.save({n: (TeamInfo(name=n, source="csv"), m) for n, m in rosters.items()})
        print(f"teams: {people:,} people in {teams:,} teams on {machine()}; "
              f"{redis_version(client)}; filled in {time.perf_counter() - started:.1f} s")
        week = week_bucket(datetime.now(UTC).date())
        client.config_set("slowlog-log-slower-than", 0)
        client.slowlog_reset()
        started = time.perf_counter()
        team_store.period_totals(week)  # the first read builds
        build_s = time.perf_counter() - started
        slowest = max((e["duration"] for e in client.slowlog_get(100_000)), default=0)
        client.config_set("slowlog-log-slower-than", 10_000)
        before = command_stats(client)
        team_store.period_totals(week)
        per_read = stats_delta(before, command_stats(client))
        per_read.pop("info", None)
        reads = []
        for _ in range(200):
            t0 = time.perf_counter()
            team_store.period_totals(week)
            reads.append(time.perf_counter() - t0)
        in_teams = [u for u in sorted(rosters["team-0000"]) if u.endswith("0")][:50]
        nobody = [f"U9{i:07d}" for i in range(50)]
        n = 2_000 if args.quick else 10_000
        with_teams = ingest_rate(store, in_teams, n, "a")
        without = ingest_rate(store, nobody, n, "b")
        memory = sum(client.memory_usage(k) or 0 for k in client.scan_iter(
            match=team_store.key("z", "*"), count=1000))
    result = {
        "people": people, "teams": teams,
        "read_p50_ms": percentile(reads, 50) * 1000, "read_p99_ms": percentile(reads, 99) * 1000,
        "read_commands": sum(per_read.values()),
        "build_s": build_s, "build_slowest_command_us": slowest,
        "ingest_in_teams_per_s": with_teams, "ingest_no_team_per_s": without,
        "team_sets_bytes": memory,
    }
    print(f"   read (built)   p50 {result['read_p50_ms']:.2f} ms, p99 "
          f"{result['read_p99_ms']:.2f} ms, {result['read_commands']} Redis commands "
          f"({', '.join(f'{k} {v}' for k, v in sorted(per_read.items()))})")
    print(f"   build          {build_s:.2f} s after a roster change; slowest command "
          f"{slowest:,} us")
    print(f"   ingest         {with_teams:,.0f} reports/s for people in 2 teams vs "
          f"{without:,.0f} for people in none")
    print(f"   team sets      {memory:,} bytes for the week's tokens and points")
    return result


if __name__ == "__main__":
    main()
