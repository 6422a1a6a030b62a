"""A person's own token, from App Home: "Create my token" makes (or replaces) their
personal token and shows it once in a modal, with the environment to paste; "Revoke my
token" refuses it from now on. Whose token it is comes from the click's user, never from
the button."""

from __future__ import annotations

import logging

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot.render.blocks import escape
from bot.render.token_blocks import CREATE, REVOKE, notice_view, token_view
from bot.runtime.deps import Deps
from bot.runtime.workspaces import Workspaces
from bot.slack.first_run import PLACEHOLDER
from bot.store.senders import SenderError
from handlers.home import publish_home

log = logging.getLogger(__name__)


def create_token(deps: Deps, client: WebClient, user: str, trigger_id: str) -> None:
    """Make (or replace) `user`'s personal token and show it once."""
    try:
        name, token = deps.senders.create_personal(user)
    except SenderError as exc:
        client.views_open(trigger_id=trigger_id, view=notice_view(
            "No token made", f"No token was made: {escape(str(exc))}. Ask an admin."))
        return
    log.info("personal token %r made for %s on App Home", name, user)
    client.views_open(trigger_id=trigger_id, view=token_view(
        name, token, deps.settings.public_url or PLACEHOLDER))


def revoke_token(deps: Deps, user: str) -> str | None:
    """Revoke `user`'s personal token; its name, or None when they had none."""
    name = deps.senders.personal(user)
    if name is not None and deps.senders.revoke(name):
        log.info("personal token %r of %s revoked on App Home", name, user)
        return name
    return None


def register(app: App, workspaces: Workspaces) -> None:

    def ack_only(ack: Ack) -> None:
        ack()

    def create(body: dict, client: WebClient, context: BoltContext) -> None:
        deps = workspaces.for_context(context)
        user = body["user"]["id"]
        create_token(deps, client, user, body["trigger_id"])
        publish_home(deps, client, user)

    def revoke(body: dict, client: WebClient, context: BoltContext) -> None:
        deps = workspaces.for_context(context)
        user = body["user"]["id"]
        revoke_token(deps, user)
        publish_home(deps, client, user)

    app.action(CREATE)(ack=ack_only, lazy=[create])
    app.action(REVOKE)(ack=ack_only, lazy=[revoke])
