"""A team's own daily digest (`team_digest_channels`): posted with the main digest, once
per team, channel and day, independent of the main digest's fate; real Redis and the Slack
stub. Expected ranks are worked out from the fixture org's numbers, not read back."""

from __future__ import annotations

import pytest

from bot.core.config import BoardConfig, check_config
from bot.store.teams import TeamInfo, TeamStore
from jobs.digest import DigestRunner
from jobs.team_digest import TEAM_METADATA_TYPE
from tests.support.digest_org import (
    DAY_ORG,
    DAY_POINTS,
    NAMES,
    add_names,
    cli,
    finish,
    make_deps,
    seed_org,
)
from tests.support.digest_posts import posts
from tests.support.digests import CHANNEL, DAY

CORE = ("U0ANA", "U0DEV", "U0EVE")
EDGE = ("U0BEN", "U0CAI")
CORE_CHANNEL = "C0CORE"


def with_teams(deps, channels: dict[str, str], **config: object) -> None:
    TeamStore(deps.store).save({"Core": (TeamInfo(name="Core", source="csv"), CORE),
                                "Edge": (TeamInfo(name="Edge", source="csv"), EDGE)})
    deps.store.configs.save(BoardConfig(team_digest_channels=channels, **config))


def escaped(name: str) -> str:
    """A name as Slack mrkdwn shows it (tests/support/digest_org.py's MENTION_ESC, EVIL_ESC)."""
    return name.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def team_posts(stub) -> dict[str, dict]:
    return {p["metadata"]["event_payload"]["team"]: p for p in posts(stub)
            if p["metadata"]["event_type"] == TEAM_METADATA_TYPE}


def board_lines(post: dict, title: str) -> list[str]:
    [text] = [b["text"]["text"] for b in post["blocks"]
              if b["type"] == "section" and b["text"]["text"].startswith(f"*{title}*")]
    return text.splitlines()[1:]


def test_each_team_gets_its_own_digest_ranked_within_the_team(settings, redis_client,
                                                              stub) -> None:
    deps = make_deps(settings, redis_client)
    add_names(stub)
    seed_org(deps)
    with_teams(deps, {"Core": CORE_CHANNEL, "Edge": CHANNEL})  # Edge shares the main channel

    result = DigestRunner(deps).run(DAY)
    assert result.status == "posted"
    assert {(t.team, t.channel, t.status) for t in result.teams} == {
        ("Core", CORE_CHANNEL, "posted"), ("Edge", CHANNEL, "posted")}
    assert len(posts(stub)) == 3  # the main digest and two of the teams' own
    core = team_posts(stub)["Core"]
    assert core["channel"] == CORE_CHANNEL
    assert core["metadata"]["event_payload"]["date"] == DAY.isoformat()
    by_usage = sorted(CORE, key=lambda u: -DAY_ORG[u][0])
    by_points = sorted(CORE, key=lambda u: -DAY_POINTS[u])
    usage = board_lines(core, "By usage")
    points = board_lines(core, "By outcomes")
    assert [line.split()[0] for line in usage] == ["#1", "#2", "#3"]
    for line, user in zip(usage, by_usage, strict=True):
        assert escaped(NAMES[user]) in line
    for line, user in zip(points, by_points, strict=True):
        assert f"{DAY_POINTS[user]:g} pts" in line
    text = str(core["blocks"])
    for user in EDGE:  # only its members
        assert NAMES[user] not in text and escaped(NAMES[user]) not in text

    again = DigestRunner(deps).run(DAY)
    assert again.status == "already_posted"
    assert {t.status for t in again.teams} == {"already_posted"}
    assert len(posts(stub)) == 3


def test_a_failed_main_digest_does_not_hold_back_the_teams(settings, redis_client,
                                                           stub) -> None:
    deps = make_deps(settings, redis_client)
    seed_org(deps)
    with_teams(deps, {"Core": CORE_CHANNEL, "Gone": "C0GONE"})
    stub.fail_next("chat.postMessage", error="not_in_channel")  # the main digest's post
    result = DigestRunner(deps).run(DAY)
    assert result.status == "failed"
    assert {t.team: t.status for t in result.teams} == {"Core": "posted",
                                                        "Gone": "unknown_team"}
    assert list(team_posts(stub)) == ["Core"]


def test_teams_only_team_digests_name_nobody(settings, redis_client, stub) -> None:
    deps = make_deps(settings, redis_client)
    add_names(stub)
    seed_org(deps)
    with_teams(deps, {"Core": CORE_CHANNEL}, display="teams")
    DigestRunner(deps).run(DAY)
    core = team_posts(stub)["Core"]
    text = str(core["blocks"])
    assert "Core" in text
    for user in CORE:
        assert user not in text
        assert NAMES[user] not in text and escaped(NAMES[user]) not in text


@pytest.mark.parametrize("channels", [{"Core": "general"}, {"": "C0CORE"}])
def test_a_team_channel_must_be_a_team_and_a_channel_id(channels: dict[str, str]) -> None:
    problems = check_config(BoardConfig(team_digest_channels=channels))
    assert "team_digest_channels" in problems
    assert not check_config(BoardConfig(team_digest_channels={"Core": "C0CORE"}))


@pytest.mark.slow
def test_the_digest_command_posts_team_digests_without_a_main_channel(
        settings, redis_client, redis_url, stub, tmp_path) -> None:
    deps = make_deps(settings, redis_client)
    seed_org(deps)
    with_teams(deps, {"Core": CORE_CHANNEL})
    env = {"REDIS_URL": redis_url, "SLACK_API_URL": stub.url, "SLACK_BOT_TOKEN": "xoxb-test",
           "TOKENBOARD_TIMEZONE": "Europe/Berlin"}  # no DIGEST_CHANNEL
    code, stdout, stderr = finish(cli(["--date", DAY.isoformat()], env, tmp_path))
    assert code == 0, stderr
    assert "only the teams' own digests" in stdout and "Team Core's digest" in stdout
    assert list(team_posts(stub)) == ["Core"] and len(posts(stub)) == 1
