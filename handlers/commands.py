"""`/leaderboard [period|me|help|config|optout|optin|forget-me|link]`: ack at once, then
answer privately via response_url."""

from __future__ import annotations

import logging

import redis
from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.models.blocks import ActionsBlock, ButtonElement, MarkdownTextObject, SectionBlock

from bot.blocks import escape, help_blocks, leaderboard_blocks, me_blocks
from bot.deps import Deps
from bot.periods import PERIODS
from handlers.admin import NOT_ADMIN, open_config
from handlers.claims import request_link

log = logging.getLogger(__name__)
DEFAULT_PERIOD = "week"
VERBS = {"config": "config", "settings": "config", "optout": "optout", "opt-out": "optout",
         "optin": "optin", "opt-in": "optin", "forget-me": "forget", "forgetme": "forget"}
FORGET_CONFIRM, FORGET_CANCEL = "forget_me_confirm", "forget_me_cancel"
UNAVAILABLE = ("tokenboard cannot reach its database right now, so nothing is shown. "
               "Please try again in a minute.")


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
    if words[0] == "me" and len(words) <= 2:
        period = words[1] if len(words) == 2 else DEFAULT_PERIOD
        if period in PERIODS:
            return "me", period
    return "unknown", text.strip()


def register(app: App, deps: Deps) -> None:
    def ack_command(ack: Ack, command: dict) -> None:
        action, arg = parse(command.get("text", ""))
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

    def answer(command: dict, respond: Respond, client: WebClient) -> None:
        try:
            _answer(command, respond, client)
        except (redis.ConnectionError, redis.TimeoutError):
            log.warning("/leaderboard: Redis unavailable")
            respond(text=UNAVAILABLE, response_type="ephemeral")

    def _answer(command: dict, respond: Respond, client: WebClient) -> None:
        action, period = parse(command.get("text", ""))
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
            deps.store.set_opt_out(viewer, action == "optout")
            respond(text=OPT_TEXT[action], response_type="ephemeral")
            return
        if action not in ("board", "me") or period is None:
            return
        pb = deps.leaderboards.period_board(period, viewer=viewer)
        if action == "me":
            blocks = me_blocks(pb, viewer)
        else:
            shown = pb.board.raw[: pb.config.board_size] + pb.board.outcome[
                : pb.config.board_size]
            names = deps.directory.names([r.user for r in shown])
            show_flags = pb.config.flags == "everyone" or (
                pb.config.flags == "admins" and deps.is_admin(viewer, config=pb.config))
            blocks = leaderboard_blocks(pb, viewer, names, show_flags=show_flags)
        respond(blocks=blocks, text=f"Leaderboard · {pb.title}", response_type="ephemeral",
                replace_original=False)

    app.command("/leaderboard")(ack=ack_command, lazy=[answer])

    @app.action(FORGET_CONFIRM)
    def forget(ack: Ack, body: dict, respond: Respond) -> None:
        ack()
        user = body["user"]["id"]  # only ever the person who clicked
        removed = deps.store.forget_user(user)
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
