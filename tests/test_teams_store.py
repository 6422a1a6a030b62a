"""Team sets on a real Redis: exact while reports stream in, today's roster for the past,
and a read whose Redis work does not grow with the number of people."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta

import redis

from bot.core.config import BoardConfig
from bot.core.periods import ALL, week_bucket
from bot.core.teams import TeamTotals, team_totals_from_people
from bot.sources.reports import OutcomeReport, UsageReport, as_counts
from bot.store.store import Store
from bot.store.teams import TeamInfo, TeamStore

NOW = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
WEEK = week_bucket(NOW.date())


def record(store: Store, reports: list, config: BoardConfig) -> None:
    """Count /ingest-shaped reports (each with who) the way /ingest does."""
    store.counting.record([(as_counts(r), who) for r, who in reports], config)


def usage(id: str, user: str, tokens: int, ts: datetime = NOW) -> UsageReport:
    return UsageReport(id=id, type="usage", user=user, ts=ts, tool="t", tokens=tokens)


def outcome(id: str, user: str, count: int = 1, ts: datetime = NOW) -> OutcomeReport:
    return OutcomeReport(id=id, type="outcome", user=user, ts=ts, kind="pr_merged", count=count)


def csv_teams(teams: TeamStore, rosters: dict[str, set[str]]) -> None:
    teams.save({name: (TeamInfo(name=name, source="csv"), members)
                for name, members in rosters.items()})


def expected(store: Store, teams: TeamStore, bucket=WEEK) -> dict[str, TeamTotals]:
    """Team totals recomputed from the people's own period totals and today's rosters."""
    totals = store.reads.period_totals(bucket)
    people = {u: (float(r), float(p)) for u, r, p in
              zip(totals.users, totals.raw, totals.points, strict=True)}
    return {t.team: t for t in team_totals_from_people(teams.rosters(), people)}


def read(teams: TeamStore, bucket=WEEK) -> dict[str, TeamTotals]:
    return {t.team: t for t in teams.period_totals(bucket)}


def close(a: dict[str, TeamTotals], b: dict[str, TeamTotals]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        x, y = a[name], b[name]
        assert (x.members, x.active) == (y.members, y.active), name
        assert abs(x.raw - y.raw) < 1e-6 and abs(x.points - y.points) < 1e-6, name


def test_a_report_moves_each_of_its_persons_teams_by_its_amount_and_no_other(
        redis_client: redis.Redis) -> None:
    store, config = Store(redis_client), BoardConfig()
    teams = TeamStore(store)
    csv_teams(teams, {"alpha": {"U0A", "U0B"}, "beta": {"U0B", "U0C"}, "gamma": {"U0D"}})
    record(store, [(usage("1", "U0A", 100), "U0A"), (usage("2", "U0C", 50), "U0C")], config)
    before = read(teams)  # builds the week's team sets
    assert before["alpha"].raw == 100 and before["beta"].raw == 50
    assert before["gamma"].active == 0
    record(store, [(usage("3", "U0B", 7), "U0B")], config)  # in alpha and beta
    after = read(teams)
    assert after["alpha"].raw - before["alpha"].raw == 7
    assert after["beta"].raw - before["beta"].raw == 7
    assert after["gamma"].raw == before["gamma"].raw == 0
    assert (after["alpha"].active, after["beta"].active) == (2, 2)  # U0B is new to both
    record(store, [(outcome("o1", "U0D"), "U0D")], config)
    last = read(teams)
    assert last["gamma"].points > 0 and last["gamma"].active == 1
    assert last["alpha"].points == after["alpha"].points == 0
    close(last, expected(store, teams))


def test_team_totals_stay_exact_while_reports_stream_in_and_sets_are_rebuilt(
        redis_client: redis.Redis) -> None:
    store, config = Store(redis_client), BoardConfig()
    teams = TeamStore(store)
    rng = random.Random(7)
    people = [f"U{i:04d}" for i in range(60)]
    csv_teams(teams, {f"t{j}": set(rng.sample(people, rng.randint(1, 15))) for j in range(12)})
    stop = threading.Event()

    def stream(seed: int) -> None:
        writer = Store(redis.Redis(connection_pool=redis_client.connection_pool))
        r = random.Random(seed)
        i = 0
        while not stop.is_set() and i < 400:
            user = r.choice(people)
            report = (usage(f"{seed}-{i}", user, r.randint(1, 900)) if r.random() < 0.7
                      else outcome(f"{seed}-{i}", user, r.randint(1, 3)))
            writer.counting.record([(as_counts(report), user)], config)
            i += 1

    threads = [threading.Thread(target=stream, args=(s,)) for s in range(3)]
    for t in threads:
        t.start()
    for _ in range(8):  # builds race the writers: every read is a fresh build
        teams.invalidate()
        read(teams)
    for t in threads:
        t.join()
    close(read(teams), expected(store, teams))
    close(read(teams, ALL), expected(store, teams, ALL))


def test_the_past_follows_todays_roster(redis_client: redis.Redis) -> None:
    """Work done while someone was in `old` counts for `new` once they moved."""
    store, config = Store(redis_client), BoardConfig()
    teams = TeamStore(store)
    csv_teams(teams, {"old": {"U0A", "U0B"}, "new": {"U0C"}})
    last_week = NOW - timedelta(days=7)
    record(store, [(usage("1", "U0A", 300, last_week), "U0A"),
                  (usage("2", "U0B", 20, last_week), "U0B")], config)
    past = week_bucket(last_week.date())
    assert read(teams, past)["old"].raw == 320
    csv_teams(teams, {"old": {"U0B"}, "new": {"U0C", "U0A"}})  # U0A moved
    moved = read(teams, past)
    assert (moved["old"].raw, moved["old"].active) == (20, 1)
    assert (moved["new"].raw, moved["new"].active) == (300, 1)
    close(moved, expected(store, teams, past))


def test_a_rescore_rebuilds_the_team_points(redis_client: redis.Redis) -> None:
    from bot.core.config import OutcomeRule
    from bot.intake.scoring import rebuild_scores, save_configuration

    store, config = Store(redis_client), BoardConfig()
    teams = TeamStore(store)
    csv_teams(teams, {"a": {"U0A"}, "b": {"U0B"}})
    record(store, [(outcome("1", "U0A", 4), "U0A"), (outcome("2", "U0B", 1), "U0B")], config)
    before = read(teams)
    heavier = config.model_copy(update={"outcomes": {
        **config.outcomes, "pr_merged": OutcomeRule(label="PRs", weight=50, cap=10)}})
    save_configuration(store, heavier, by="test")
    rebuild_scores(store)
    after = read(teams)
    assert after["a"].points > before["a"].points * 5
    close(after, expected(store, teams))


def test_reading_the_team_board_costs_the_same_for_100_or_5000_people(
        redis_client: redis.Redis) -> None:
    def commands_for(n: int) -> dict[str, int]:
        redis_client.flushdb()
        store = Store(redis_client)
        teams = TeamStore(store)
        pipe = redis_client.pipeline(transaction=False)
        for i in range(n):
            pipe.zadd(store.keys.board("tokens", WEEK), {f"U{i:05d}": i + 1})
            pipe.zadd(store.keys.board("points", WEEK), {f"U{i:05d}": n - i})
        pipe.execute()
        csv_teams(teams, {f"t{j:02d}": {f"U{i:05d}" for i in range(j, n, 20)}
                          for j in range(20)})
        teams.period_totals(WEEK)  # built once
        redis_client.config_resetstat()
        got = teams.period_totals(WEEK)
        assert sum(t.active for t in got) == n
        stats = redis_client.info("commandstats")
        return {name: v["calls"] for name, v in stats.items()
                if name not in ("cmdstat_config", "cmdstat_info")}

    small, big = commands_for(100), commands_for(5000)
    assert small == big
    assert "cmdstat_zmscore" not in big and sum(big.values()) < 20
