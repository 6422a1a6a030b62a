"""Team answers of `/leaderboard`: `teams [period]`, `team NAME [period]`, the team
board's period buttons and "Share in channel", and the board that display "teams"
(teams only) puts in place of the person board."""

from __future__ import annotations

import logging
import re

import redis
from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.boards.teams import TeamBoards, UnknownTeam
from bot.core.periods import PERIODS
from bot.render.blocks import escape
from bot.render.team_blocks import (
    TEAM_PERIOD_ACTION,
    TEAM_SHARE_ACTION,
    inside_team_blocks,
    own_line,
    shared_team_board_blocks,
    team_board_blocks,
)
from bot.runtime.deps import Deps
from bot.runtime.workspaces import Workspaces

log = logging.getLogger(__name__)
DEFAULT_PERIOD = "week"
UNAVAILABLE = ("tokenboard cannot reach its database right now, so nothing is shown. "
               "Please try again in a minute.")


def parse_team(words: list[str]) -> tuple[str, str] | None:
    """`team NAME [period]` → (name, period); None without a name."""
    rest = words[1:]
    period = DEFAULT_PERIOD
    if len(rest) > 1 and rest[-1].lower() in PERIODS:
        period = rest.pop().lower()
    return (" ".join(rest), period) if rest else None


def _own(deps: Deps, period: str, viewer: str) -> str:
    pb = deps.leaderboards.period_board(period, viewer=viewer, top_n=0)
    return own_line(pb.board.by_user.get(viewer), pb.board.people, pb.config.raw_metric)


def send_team_board(deps: Deps, respond: Respond, period: str, viewer: str,
                    replace: bool) -> None:
    """The private team board of `period`; with display "teams", the viewer's own line."""
    boards = TeamBoards(deps.store, now=deps.leaderboards.now)
    tb = boards.period_board(period)
    mine = boards.places(viewer, period, tb.config)
    own = _own(deps, period, viewer) if tb.config.display == "teams" else None
    respond(blocks=team_board_blocks(tb, sharing=tb.config.sharing_enabled, mine=mine,
                                     own=own),
            text=f"Teams · {tb.title}", response_type="ephemeral", replace_original=replace)


def send_inside_team(deps: Deps, respond: Respond, name: str, period: str,
                     viewer: str) -> None:
    boards = TeamBoards(deps.store, now=deps.leaderboards.now)
    hidden = deps.leaderboards.hidden_from(viewer)
    try:
        inside = boards.inside(name, period, hidden=hidden)
    except UnknownTeam as exc:
        respond(text=escape(exc.sentence()), response_type="ephemeral")
        return
    teams_only = inside.pb.config.display == "teams"
    names = {} if teams_only else deps.directory.names(
        [r.user for r in inside.pb.board.raw[:inside.pb.config.board_size]]
        + [r.user for r in inside.pb.board.outcome[:inside.pb.config.board_size]])
    own = _own(deps, period, viewer) if teams_only else None
    respond(blocks=inside_team_blocks(inside, viewer, names, teams_only, own=own),
            text=f"Team {inside.team.name} · {inside.pb.title}", response_type="ephemeral")


def share_team_board(deps: Deps, client: WebClient, body: dict) -> str:
    viewer = body["user"]["id"]
    period = (body.get("actions") or [{}])[0].get("value", "")
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
        "channel_id")
    config = deps.store.configs.load()
    if not config.sharing_enabled:
        return ("Sharing the leaderboard in channels is turned off in this workspace; an "
                "admin can turn it on in `/leaderboard config`.")
    if period not in PERIODS or not channel:
        return "There is no board to share here."
    tb = TeamBoards(deps.store, now=deps.leaderboards.now).period_board(period, config)
    if not tb.board.agreement.teams:
        return f"There is nothing to share: no team is active {tb.label}."
    blocks, text = shared_team_board_blocks(tb, sharer=viewer)
    try:
        client.chat_postMessage(channel=channel, blocks=blocks, text=text,
                                unfurl_links=False, unfurl_media=False)
    except SlackApiError as exc:
        error = exc.response.get("error", "error")
        return (f"I could not post in this channel ({error}). Invite me with "
                "`/invite @tokenboard` and try again.")
    return f"Shared the team board for {tb.name or tb.label} in <#{channel}>."


def register(app: App, workspaces: Workspaces) -> None:
    def ack_only(ack: Ack) -> None:
        ack()

    def switch_period(body: dict, respond: Respond, context: BoltContext) -> None:
        period = (body.get("actions") or [{}])[0].get("value", "")
        if period not in PERIODS:
            return
        try:
            send_team_board(workspaces.for_context(context), respond, period,
                            body["user"]["id"], replace=True)
        except (redis.ConnectionError, redis.TimeoutError):
            respond(text=UNAVAILABLE, response_type="ephemeral", replace_original=False)

    def share(body: dict, respond: Respond, client: WebClient, context: BoltContext) -> None:
        try:
            text = share_team_board(workspaces.for_context(context), client, body)
        except (redis.ConnectionError, redis.TimeoutError):
            text = UNAVAILABLE
        respond(text=text, response_type="ephemeral", replace_original=False)

    app.action(re.compile(f"^{TEAM_PERIOD_ACTION}_"))(ack=ack_only, lazy=[switch_period])
    app.action(TEAM_SHARE_ACTION)(ack=ack_only, lazy=[share])
