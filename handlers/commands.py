"""`/leaderboard [period|me|teams|team NAME|help|config|optout|optin|forget-me|link]`: ack at
once, then answer privately via response_url."""

from __future__ import annotations

import logging
import re

import redis
from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import ActionsBlock, ButtonElement, MarkdownTextObject, SectionBlock

from bot.boards.leaderboard import PeriodBoard
from bot.boards.usage import person_usage_and_why
from bot.boards.why import why_blocks
from bot.core.periods import PERIODS
from bot.render.blocks import (
    PERIOD_ACTION,
    SHARE_ACTION,
    Chart,
    escape,
    help_blocks,
    leaderboard_blocks,
    me_blocks,
    shared_board_blocks,
)
from bot.render.usage_blocks import build_usage_blocks
from bot.runtime.deps import Deps
from bot.runtime.workspaces import Workspaces
from bot.slack.board_chart import chart_for_reply, forget_board_chart
from bot.slack.directory import names_in
from bot.slack.first_run import delete_chart_file
from bot.store.teams import TeamStore
from handlers.admin import NOT_ADMIN, open_config
from handlers.claims import request_link
from handlers.teams import parse_team, send_inside_team, send_team_board, share_team_board

log = logging.getLogger(__name__)
DEFAULT_PERIOD = "week"
VERBS = {"config": "config", "settings": "config", "optout": "optout", "opt-out": "optout",
         "optin": "optin", "opt-in": "optin", "forget-me": "forget", "forgetme": "forget"}
FORGET_CONFIRM, FORGET_CANCEL = "forget_me_confirm", "forget_me_cancel"
UNAVAILABLE = ("tokenboard cannot reach its database right now, so nothing is shown. "
               "Please try again in a minute.")
PARSED = "leaderboard_parsed"  # the ack's parse of the text, in the context the lazy answer gets


def parse(text: str) -> tuple[str, str | None]:
    """('board' | 'me', period), (verb, None) for help/config/optout/optin/forget, or
    ('unknown', original text)."""
    words = text.lower().split()
    if not words:
        return "board", DEFAULT_PERIOD
    if words[0] in ("help", "-h", "--help", "?"):
        return "help", None
    if words[0] == "link":
        return "link", " ".join(text.split()[1:])
    if len(words) == 1 and words[0] in VERBS:
        return VERBS[words[0]], None
    if len(words) == 1 and words[0] in PERIODS:
        return "board", words[0]
    # TEAMS: `teams [period]` → ('teams', period); `team NAME [period]` → ('team', text)
    if words[0] == "teams" and len(words) <= 2:
        period = words[1] if len(words) == 2 else DEFAULT_PERIOD
        if period in PERIODS:
            return "teams", period
    if words[0] == "team" and len(words) >= 2:
        return "team", " ".join(text.split()[1:])
    if words[0] == "me" and len(words) <= 2:
        period = words[1] if len(words) == 2 else DEFAULT_PERIOD
        if period in PERIODS:
            return "me", period
    return "unknown", text.strip()


def register(app: App, workspaces: Workspaces) -> None:
    def ack_command(ack: Ack, command: dict, context: BoltContext) -> None:
        action, arg = parse(command.get("text", ""))
        context[PARSED] = (action, arg)  # Bolt copies the context for the lazy listener
        if action == "help":
            ack(blocks=help_blocks(), text="How /leaderboard works", response_type="ephemeral")
        elif action == "unknown":
            ack(blocks=help_blocks(not_understood=arg),
                text=f"Did not understand {escape(arg or '')!r}", response_type="ephemeral")
        elif action == "forget":
            ack(blocks=forget_blocks(), text="Delete your tokenboard data?",
                response_type="ephemeral")
        else:
            ack()

    def answer(command: dict, respond: Respond, client: WebClient,
               context: BoltContext) -> None:
        try:
            _answer(workspaces.for_context(context), command, respond, client,
                    context.get(PARSED))
        except (redis.ConnectionError, redis.TimeoutError):
            log.warning("/leaderboard: Redis unavailable")
            respond(text=UNAVAILABLE, response_type="ephemeral")

    def _answer(deps: Deps, command: dict, respond: Respond, client: WebClient,
                parsed: tuple[str, str | None] | None) -> None:
        action, period = parsed if parsed is not None else parse(command.get("text", ""))
        viewer = command["user_id"]
        if action == "config":
            if not open_config(deps, client, command["trigger_id"], viewer):
                respond(text=NOT_ADMIN, response_type="ephemeral")
            return
        if action == "link":
            respond(text=request_link(deps, viewer, (period or "").split()),
                    response_type="ephemeral")
            return
        if action in ("optout", "optin"):
            deps.store.privacy.set_opt_out(viewer, action == "optout")
            respond(text=OPT_TEXT[action], response_type="ephemeral")
            return
        if action == "team":  # TEAMS
            found = parse_team(["team", *(period or "").split()])
            if found:
                send_inside_team(deps, respond, found[0], found[1], viewer)
            return
        if action == "teams" and period is not None:  # TEAMS
            send_team_board(deps, respond, period, viewer, replace=False)
            return
        if action not in ("board", "me") or period is None:
            return
        if action == "me":
            pb = deps.leaderboards.period_board(period, viewer=viewer)
            usage, made = person_usage_and_why(deps.store, pb.config, pb.bucket, viewer)
            why = (build_usage_blocks(usage, f"Where your tokens went {pb.label}")
                   + why_blocks(made))
            respond(blocks=me_blocks(pb, viewer, why), text=f"Your numbers · {pb.title}",
                    response_type="ephemeral", replace_original=False)
            return
        send_board(deps, client, respond, period, viewer, replace=False)

    app.command("/leaderboard")(ack=ack_command, lazy=[answer])

    def ack_only(ack: Ack) -> None:
        ack()

    def switch_period(body: dict, respond: Respond, client: WebClient,
                      context: BoltContext) -> None:
        deps = workspaces.for_context(context)
        period = (body.get("actions") or [{}])[0].get("value", "")
        if period not in PERIODS:
            return
        try:
            send_board(deps, client, respond, period, body["user"]["id"], replace=True)
        except (redis.ConnectionError, redis.TimeoutError):
            respond(text=UNAVAILABLE, response_type="ephemeral", replace_original=False)

    def share(body: dict, respond: Respond, client: WebClient, context: BoltContext) -> None:
        deps = workspaces.for_context(context)
        try:
            respond(text=share_board(deps, client, body), response_type="ephemeral",
                    replace_original=False)
        except (redis.ConnectionError, redis.TimeoutError):
            respond(text=UNAVAILABLE, response_type="ephemeral", replace_original=False)

    app.action(re.compile(f"^{PERIOD_ACTION}_"))(ack=ack_only, lazy=[switch_period])
    app.action(SHARE_ACTION)(ack=ack_only, lazy=[share])

    @app.action(FORGET_CONFIRM)
    def forget(ack: Ack, body: dict, respond: Respond, client: WebClient,
               context: BoltContext) -> None:
        ack()
        deps = workspaces.for_context(context)
        user = body["user"]["id"]  # only ever the person who clicked
        delete_chart_file(deps, client, user)  # their App Home chart, on Slack
        removed = deps.store.privacy.forget_user(user)
        TeamStore(deps.store).forget_member(user)  # TEAMS: out of every team too
        log.info("forgot %s (%d entries)", user, removed)
        respond(replace_original=True, response_type="ephemeral",
                text=f"Done: deleted {removed} stored entries about you. Reports that tools "
                     "send from now on are counted again; use `/leaderboard optout` to stay "
                     "off the boards others see.")

    @app.action(FORGET_CANCEL)
    def keep(ack: Ack, respond: Respond) -> None:
        ack()
        respond(replace_original=True, response_type="ephemeral",
                text="Nothing was deleted.")


OPT_TEXT = {
    "optout": "You are now left out of every board and digest others see. You still see your "
              "own numbers. `/leaderboard optin` brings you back.",
    "optin": "You are back on the boards others see.",
}


def forget_blocks() -> list[dict]:
    return [
        SectionBlock(text=MarkdownTextObject(
            text="*Delete everything tokenboard stored about you?* Your usage and outcome "
                 "counts for every day, your places on every board and your cached profile "
                 "are removed. This cannot be undone.")).to_dict(),
        ActionsBlock(block_id="forget_me", elements=[
            ButtonElement(action_id=FORGET_CONFIRM, text="Delete my data", style="danger",
                          value="confirm"),
            ButtonElement(action_id=FORGET_CANCEL, text="Cancel", value="cancel"),
        ]).to_dict(),
    ]


SHARING_OFF = ("Sharing the leaderboard in channels is turned off in this workspace; an "
               "admin can turn it on in `/leaderboard config`.")
CANNOT_POST = ("I could not post in this channel ({error}). Invite me with "
               "`/invite @tokenboard` and try again, or share it from a channel I am in.")


def _names_and_flags(deps: Deps, pb: PeriodBoard, viewer: str | None) -> tuple[dict, bool]:
    """The names of the people shown and whether `viewer` sees the flags, from one read
    of the profile cache (the viewer's role, when it decides, is read with the names)."""
    config = pb.config
    shown = [r.user for r in pb.board.raw[: config.board_size]
             + pb.board.outcome[: config.board_size]]
    if viewer is None:  # a channel post: flags only when everyone may see them
        return deps.directory.names(shown), config.flags == "everyone"
    role_asked = config.flags == "admins" and not deps.admin_by_setting(viewer, config)
    profiles = deps.directory.profiles(shown + [viewer] if role_asked else shown)
    names = names_in(profiles, shown)
    return names, deps.sees_flags(viewer, config, profiles=profiles)


def send_board(deps: Deps, client: WebClient, respond: Respond, period: str, viewer: str,
               replace: bool) -> None:
    """The private board for `period`, with its chart, through the response_url: a new
    message for the command, the same message replaced for a period button."""
    config = deps.store.configs.load()  # once for the whole answer
    if config.display == "teams":  # TEAMS: individuals are not ranked
        send_team_board(deps, respond, period, viewer, replace)
        return
    pb = deps.leaderboards.period_board(period, config=config, viewer=viewer)
    names, show_flags = _names_and_flags(deps, pb, viewer)
    chart = chart_for_reply(deps, client, pb, names, viewer)
    sharing = pb.config.sharing_enabled

    def send(with_chart: Chart | None) -> bool:
        blocks = leaderboard_blocks(pb, viewer, names, show_flags=show_flags,
                                    chart=with_chart, sharing=sharing)
        answer = respond(blocks=blocks, text=f"Leaderboard · {pb.title}",
                         response_type="ephemeral", replace_original=replace)
        return answer is None or getattr(answer, "status_code", 200) < 300

    if not send(chart) and chart is not None:
        # Slack refused the message (e.g. the uploaded file is not ready or not visible):
        # the board matters more than its picture.
        log.warning("/leaderboard reply with the chart was refused; sending it without")
        forget_board_chart(deps, chart)
        send(None)


def share_board(deps: Deps, client: WebClient, body: dict) -> str:
    """Post the clicked period's board in the channel the command came from; the private
    answer to the person who clicked."""
    viewer = body["user"]["id"]
    period = (body.get("actions") or [{}])[0].get("value", "")
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
        "channel_id")
    config = deps.store.configs.load()
    if not config.sharing_enabled:  # no button is shown; an old or forged click lands here
        return SHARING_OFF
    if config.display == "teams":  # TEAMS: a shared board ranks teams only
        return share_team_board(deps, client, body)
    if period not in PERIODS or not channel:
        return "There is no board to share here."
    pb = deps.leaderboards.period_board(period, config=config, viewer=None)
    if not pb.board.raw:
        return f"There is nothing to share: no usage or outcomes {pb.label}."
    names, show_flags = _names_and_flags(deps, pb, None)
    blocks, text = shared_board_blocks(pb, names, show_flags, sharer=viewer)
    try:
        client.chat_postMessage(channel=channel, blocks=blocks, text=text,
                                unfurl_links=False, unfurl_media=False)
    except SlackApiError as exc:
        error = exc.response.get("error", "error")
        log.info("share in %s refused: %s", channel, error)
        return CANNOT_POST.format(error=error)
    return f"Shared the board for {pb.name or pb.label} in <#{channel}>."
