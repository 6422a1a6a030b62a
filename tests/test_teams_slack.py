"""Teams in Slack: `/leaderboard teams`, `/leaderboard team NAME`, their buttons, the
"teams only" display setting on every shared surface, the digest section and App Home;
the real app behind the real HTTP server, Slack simulated by tests/slack_stub/."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bot.store.teams import TeamInfo, TeamStore
from jobs.digest import DigestRunner
from tests.conftest import App
from tests.support.polling import wait_for
from tests.support.slack_app import (
    NAMES,
    PEOPLE,
    buttons,
    first_reply,
    response_text,
    seeded,
    set_config,
)
from tests.support.slack_interactions import block_actions

pytestmark = pytest.mark.slow  # the HTTP server and the Slack stub

ROSTERS = {"Platform": {"U0ANA", "U0BEN", "U0FOX"}, "Web": {"U0CY", "U0DEE"},
           "Data": {"U0EVA", "U0ANA"}}


def with_teams(app: App) -> None:
    seeded(app)
    TeamStore(app.deps.store).save({n: (TeamInfo(name=n, source="csv"), m)
                                    for n, m in ROSTERS.items()})


def per_member(team: str) -> float:
    members = ROSTERS[team]
    return sum(PEOPLE[u][0] for u in members) / len(members)


def click(app: App, user: str, action_id: str, value: str, name: str) -> None:
    body = block_actions(user, action_id, value, "teams_actions",
                         response_url=app.stub.response_url(name))
    assert app.slack(body).status == 200


def test_team_board_ranks_per_active_member_with_buttons(app: App) -> None:
    with_teams(app)
    reply = first_reply(app, "teams today", "U0CY", "cmd")
    text = response_text(reply)
    assert reply["text"].startswith("Teams · Today")
    usage = next(b["text"]["text"] for b in reply["blocks"]
                 if b["type"] == "section" and b["text"]["text"].startswith("*By usage*"))
    order = sorted(ROSTERS, key=per_member, reverse=True)  # recomputed from the people
    assert [line.split("*")[1] for line in usage.splitlines()[1:]] == order
    assert "Too few teams" in text  # 3 teams
    assert "*Your teams*" in text and "*Web*: #" in text
    ids = buttons(reply)
    assert {"teams_period_today", "teams_period_week", "teams_share"} <= set(ids)
    click(app, "U0CY", "teams_period_week", "week", "switch")
    switched = wait_for(lambda: app.stub.responses("switch"))[0]
    assert switched["replace_original"] is True and switched["text"].startswith("Teams · ")


def test_inside_a_team_and_an_unknown_name(app: App) -> None:
    with_teams(app)
    reply = first_reply(app, "team platform today", "U0CY", "cmd")
    text = response_text(reply)
    assert "Ana Lima" in text and "Fox Mori" in text and "Cy Park" not in text
    unknown = first_reply(app, "team plat", "U0CY", "unknown")
    assert "There is no team called “plat”" in unknown["text"]
    assert "Platform" in unknown["text"]


def test_teams_only_names_nobody_on_shared_surfaces(app: App) -> None:
    with_teams(app)
    set_config(app, display="teams", flags="everyone")
    reply = first_reply(app, "today", "U0CY", "cmd")  # the plain board becomes the teams'
    text = response_text(reply)
    assert reply["text"].startswith("Teams · Today")
    assert "You (only you see this)" in text
    for uid, name in NAMES.items():
        assert name not in text and (uid == "U0CY" or uid not in text)
    inside = response_text(first_reply(app, "team web today", "U0CY", "inside"))
    assert "Dee Ruiz" not in inside and "not ranked" in inside
    click(app, "U0CY", "teams_share", "today", "share")
    [post] = wait_for(lambda: app.stub.calls("chat.postMessage"))
    shown = json.dumps(post.args["blocks"], ensure_ascii=False)
    assert "Platform" in shown and "⚑" not in shown
    for name in NAMES.values():
        assert name not in shown
    # the person board's share button, if an old message still has it, shares teams too
    body = block_actions("U0CY", "leaderboard_share", "today", "leaderboard_actions",
                         response_url=app.stub.response_url("oldshare"))
    app.slack(body)
    wait_for(lambda: len(app.stub.calls("chat.postMessage")) == 2)
    second = json.dumps(app.stub.calls("chat.postMessage")[1].args["blocks"],
                        ensure_ascii=False)
    assert all(name not in second for name in NAMES.values()) and "Platform" in second


def test_digest_has_a_teams_section_and_teams_only_names_nobody(app: App) -> None:
    with_teams(app)
    day = datetime.now(UTC).date()
    built = DigestRunner(app.deps).build(day, with_chart=False)
    text = json.dumps(built.blocks, ensure_ascii=False)
    assert "*Teams on " in text and "Platform" in text and "Ana Lima" in text
    set_config(app, display="teams")
    built = DigestRunner(app.deps).build(day)
    text = json.dumps(built.blocks, ensure_ascii=False) + built.text
    assert "Platform" in text and built.png is None
    for uid, name in NAMES.items():
        assert name not in text and uid not in text


def test_app_home_shows_the_persons_teams_and_places(app: App) -> None:
    from handlers.home import publish_home

    with_teams(app)
    publish_home(app.deps, app.deps.client, "U0ANA")
    [call] = app.stub.calls("views.publish")
    view = json.dumps(json.loads(call.args["view"]) if isinstance(call.args["view"], str)
                      else call.args["view"], ensure_ascii=False)
    assert "Your teams this week" in view and "*Platform*: #" in view and "*Data*: #" in view
