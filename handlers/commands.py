"""`/leaderboard [period|me|help]`: ack at once, then answer privately via response_url."""

from __future__ import annotations

import logging

import redis
from slack_bolt import Ack, App, Respond

from bot.app import Deps
from bot.blocks import help_blocks, leaderboard_blocks, me_blocks
from bot.periods import PERIODS

log = logging.getLogger(__name__)
DEFAULT_PERIOD = "week"
UNAVAILABLE = ("tokenboard cannot reach its database right now, so nothing is shown. "
               "Please try again in a minute.")


def parse(text: str) -> tuple[str, str | None]:
    """('board', period) | ('me', period) | ('help', None) | ('unknown', original text)."""
    words = text.lower().split()
    if not words:
        return "board", DEFAULT_PERIOD
    if words[0] in ("help", "-h", "--help", "?"):
        return "help", None
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
            ack(blocks=help_blocks(not_understood=arg), text=f"Did not understand {arg!r}",
                response_type="ephemeral")
        else:
            ack()

    def answer(command: dict, respond: Respond) -> None:
        action, period = parse(command.get("text", ""))
        if action not in ("board", "me") or period is None:
            return
        viewer = command["user_id"]
        try:
            pb = deps.leaderboards.period_board(period)
            if action == "me":
                blocks = me_blocks(pb, viewer)
            else:
                shown = pb.board.raw[: pb.config.board_size] + pb.board.outcome[
                    : pb.config.board_size]
                names = deps.directory.names([r.user for r in shown])
                show_flags = pb.config.flags == "everyone" or (
                    pb.config.flags == "admins" and deps.is_admin(viewer))
                blocks = leaderboard_blocks(pb, viewer, names, show_flags=show_flags)
        except (redis.ConnectionError, redis.TimeoutError):
            log.warning("/leaderboard: Redis unavailable")
            respond(text=UNAVAILABLE, response_type="ephemeral")
            return
        respond(blocks=blocks, text=f"Leaderboard · {pb.title}", response_type="ephemeral",
                replace_original=False)

    app.command("/leaderboard")(ack=ack_command, lazy=[answer])
