"""Self-service identity links: `/leaderboard link github LOGIN` records a claim; an admin
approves or rejects it with one click on App Home. Nothing is linked (so nobody can
collect someone else's pull requests) until an admin approves."""

from __future__ import annotations

import json
import logging
import time

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.intake.identities import CLAIM_SOURCES, IdentityError
from bot.render.blocks import code_span, escape
from bot.render.claim_blocks import APPROVE, REJECT
from bot.runtime.deps import Deps
from bot.runtime.workspaces import Workspaces
from handlers.home import publish_home

log = logging.getLogger(__name__)
USAGE = (f"Say which identity is yours: `/leaderboard link github YOUR-LOGIN` (sources: "
         f"{', '.join(CLAIM_SOURCES)}). An admin confirms it on App Home.")


def request_link(deps: Deps, user: str, words: list[str]) -> str:
    """Record `user`'s claim from the words after `link`; the reply to show them."""
    if len(words) != 2:
        return USAGE
    try:
        claim = deps.identities.claim(user, words[0], words[1], now=time.time())
    except IdentityError as exc:
        return f"Not recorded: {escape(str(exc))}. {USAGE}"
    note = (f" It is linked to <@{claim.linked_to}> now; the admin will see that."
            if claim.linked_to else "")
    return (f"Asked an admin to confirm that {code_span(claim.identity)} is you.{note} You "
            "will get a message when they decide; once confirmed, everything it reported "
            "so far counts for you too.")


def register(app: App, workspaces: Workspaces) -> None:
    def decide(ack: Ack, body: dict, action: dict, client: WebClient,
               context: BoltContext) -> None:
        ack()
        deps = workspaces.for_context(context)
        admin = body["user"]["id"]
        if not deps.is_admin(admin, fresh=True):
            log.warning("%s is not an admin; claim decision ignored", admin)
            return
        try:
            claim = json.loads(action.get("value") or "{}")
            identity, user = str(claim["identity"]), str(claim["user"])
        except (ValueError, KeyError, TypeError):
            return
        approve = action["action_id"] == APPROVE
        result = deps.identities.decide(identity, user, approve)
        if result is not None:
            log.info("claim %s for %s %s by %s", identity, user,
                     "approved" if approve else "rejected", admin)
            text = (f"An admin confirmed that {code_span(identity)} is you: what it reports "
                    f"counts for you now ({result.days_credited} earlier day(s) credited)."
                    if approve else
                    f"An admin did not confirm that {code_span(identity)} is you; nothing "
                    "was linked. Ask them if you think this is a mistake.")
            try:
                client.chat_postMessage(channel=user, text=text)
            except SlackApiError as exc:
                log.warning("could not tell %s about their claim: %s", user,
                            exc.response.get("error"))
        publish_home(deps, client, admin)

    app.action(APPROVE)(decide)
    app.action(REJECT)(decide)
