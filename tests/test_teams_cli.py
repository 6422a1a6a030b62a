"""`tokenboard teams …` and `tokenboard leaderboard --teams/--team`, as real subprocesses
on a real Redis; user groups from the Slack stub."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.core.config import BoardConfig
from bot.sources.reports import OutcomeReport, UsageReport, as_counts
from bot.store.store import Store
from tests.slack_stub import SlackStub
from tests.support.cli_runs import run

TS = datetime.now(UTC) - timedelta(minutes=1)
TOKENS = {"U0A": 900, "U0B": 300, "U0C": 100, "U0D": 50, "U0E": 0}
OUTCOMES = {"U0C": "deploy", "U0D": "review", "U0E": "deploy"}  # 3, 2, 3 points
ROSTERS = {"Platform": ["U0A", "U0B"], "Web": ["U0B", "U0C", "U0D"], "Ops": ["U0E"],
           "Empty": ["U0Z"]}

pytestmark = pytest.mark.slow  # tokenboard subprocesses


def fill(store: Store) -> None:
    reports = [(UsageReport(id=f"u{u}", type="usage", user=u, ts=TS, tool="t", tokens=n), u)
               for u, n in TOKENS.items() if n]
    reports += [(OutcomeReport(id=f"o{u}", type="outcome", user=u, ts=TS, kind=k), u)
                for u, k in OUTCOMES.items()]
    store.counting.record([(as_counts(r), who) for r, who in reports], BoardConfig())


def write_csv(path: Path, rosters: dict[str, list[str]]) -> Path:
    path.write_text("team,slack_user\n" + "".join(
        f"{t},{u}\n" for t, members in rosters.items() for u in members))
    return path


def test_import_list_and_the_team_board(tmp_path: Path, redis_client, redis_url: str) -> None:
    env = {"REDIS_URL": redis_url}
    fill(Store(redis_client))
    done = run(["teams", "import", str(write_csv(tmp_path / "t.csv", ROSTERS))], env, tmp_path)
    assert done.returncode == 0, done.stderr
    listed = json.loads(run(["teams", "list", "--json"], env, tmp_path).stdout)
    assert {t["team"]: t["members"] for t in listed["teams"]} == {
        t: sorted(m) for t, m in ROSTERS.items()}
    done = run(["leaderboard", "--teams", "--period", "all", "--json"], env, tmp_path)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    points = {"deploy": 3, "review": 2}
    # expectations recomputed from the per-person counts above
    want = {}
    for team, members in ROSTERS.items():
        active = [u for u in members if u in TOKENS]
        raw = sum(TOKENS[u] for u in active)
        pts = sum(points[OUTCOMES[u]] for u in active if u in OUTCOMES)
        want[team] = (raw, pts, len(active), len(members))
    got_raw = {r["team"]: r for r in data["raw"]}
    got_pts = {r["team"]: r for r in data["outcome"]}
    for team, (raw, pts, active, members) in want.items():
        assert got_raw[team]["score"] == raw and got_pts[team]["score"] == pts
        assert (got_raw[team]["active"], got_raw[team]["members"]) == (active, members)
        if active:
            assert got_raw[team]["per_member"] == raw / active
    assert [r["team"] for r in data["raw"]] == ["Platform", "Web", "Ops", "Empty"]
    assert [r["team"] for r in data["outcome"]] == ["Ops", "Web", "Platform", "Empty"]
    assert got_raw["Platform"]["move"] == 1 - 3 and got_raw["Empty"]["rank"] is None
    assert data["agreement"]["teams"] == 3 and "kendall" in data["agreement"]
    table = run(["leaderboard", "--teams", "--period", "all"], env, tmp_path).stdout
    assert "BY USAGE PER ACTIVE MEMBER" in table and "Too few teams" in table
    inside = run(["leaderboard", "--team", "web", "--period", "all", "--json"], env, tmp_path)
    assert inside.returncode == 0, inside.stderr
    data = json.loads(inside.stdout)
    assert [r["user"] for r in data["raw"]] == ["U0B", "U0C", "U0D"]
    assert data["team"] == "Web" and data["team_agreement"]["people"] == 3
    unknown = run(["leaderboard", "--team", "platfrom"], env, tmp_path)
    assert unknown.returncode == 1 and "Did you mean “Platform”" in unknown.stderr


def test_a_bad_csv_changes_nothing_and_names_every_bad_line(tmp_path: Path, redis_client,
                                                            redis_url: str) -> None:
    env = {"REDIS_URL": redis_url}
    run(["teams", "import", str(write_csv(tmp_path / "ok.csv", {"A": ["U0A"]}))], env, tmp_path)
    bad = tmp_path / "bad.csv"
    bad.write_text("team,slack_user\nB,U0B\nB,bob\nC\nC,U0C\n")
    done = run(["teams", "import", str(bad)], env, tmp_path)
    assert done.returncode == 1
    assert "line 3:" in done.stderr and "line 4:" in done.stderr and "line 5" not in done.stderr
    listed = json.loads(run(["teams", "list", "--json"], env, tmp_path).stdout)
    assert [t["team"] for t in listed["teams"]] == ["A"]


def test_user_groups_sync_and_a_deleted_group_keeps_its_team(
        tmp_path: Path, redis_client, redis_url: str, stub: SlackStub) -> None:
    store = Store(redis_client)
    store.configs.save(BoardConfig(team_usergroups=["@platform", "S0WEB"]))
    stub.add_usergroup("S0PLAT", "platform", ["U0A", "U0B"], name="Platform team")
    stub.add_usergroup("S0WEB", "web", ["U0C"])
    stub.add_usergroup("S0OTHER", "other", ["U0D"])  # not configured: no team
    env = {"REDIS_URL": redis_url, "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_API_URL": stub.url}
    done = run(["teams", "sync"], env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Synced 2 team(s)" in done.stdout
    assert [c.method for c in stub.calls() if c.method.startswith("usergroups")] == [
        "usergroups.list", "usergroups.users.list", "usergroups.users.list"]
    listed = {t["team"]: t for t in json.loads(
        run(["teams", "list", "--json"], env, tmp_path).stdout)["teams"]}
    assert {n: t["members"] for n, t in listed.items()} == {
        "platform": ["U0A", "U0B"], "web": ["U0C"]}
    stub.add_usergroup("S0WEB", "web", ["U0C"], disabled=True)
    stub.add_usergroup("S0PLAT", "platform", ["U0A"])
    done = run(["teams", "sync"], env, tmp_path)
    assert "Kept web" in done.stdout
    listed = {t["team"]: t for t in json.loads(
        run(["teams", "list", "--json"], env, tmp_path).stdout)["teams"]}
    assert listed["platform"]["members"] == ["U0A"]
    assert listed["web"]["members"] == ["U0C"] and "gone" in listed["web"]["note"]
    assert run(["teams", "remove", "web"], env, tmp_path).returncode == 0
    listed = json.loads(run(["teams", "list", "--json"], env, tmp_path).stdout)["teams"]
    assert [t["team"] for t in listed] == ["platform"]


def test_a_team_gets_a_digest_channel_and_loses_it(tmp_path: Path, redis_client,
                                                     redis_url: str) -> None:
    env = {"REDIS_URL": redis_url}
    store = Store(redis_client)
    assert run(["teams", "import", str(write_csv(tmp_path / "t.csv", ROSTERS))], env,
               tmp_path).returncode == 0
    done = run(["teams", "channel", "platform", "C0PLAT"], env, tmp_path)  # case ignored
    assert done.returncode == 0, done.stderr
    assert store.configs.load().team_digest_channels == {"Platform": "C0PLAT"}
    listed = json.loads(run(["teams", "list", "--json"], env, tmp_path).stdout)
    assert {t["team"]: t["digest_channel"] for t in listed["teams"]}["Platform"] == "C0PLAT"
    done = run(["teams", "channel", "Platfrom", "C0PLAT"], env, tmp_path)
    assert done.returncode == 1 and "Platform" in done.stderr  # the closest name suggested
    done = run(["teams", "channel", "Platform", "--off"], env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert store.configs.load().team_digest_channels == {}
