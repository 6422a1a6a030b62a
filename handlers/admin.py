"""Admin configuration in Slack: open the modal, page through outcome kinds, the rules
against cheap outcomes and the sources of each tool, save.

Authorization is checked when the modal opens and again on every submission, from
ADMIN_USER_IDS, Slack's is_admin/is_owner and the configured admins list; nothing in
private_metadata is trusted.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.core.config import BoardConfig
from bot.core.plaintext import plain_text
from bot.intake.scoring import ConfigInvalid, rebuild_scores, save_configuration
from bot.render.config_modal import (
    MAIN_CALLBACK,
    MORE_KINDS_ACTION,
    PAGE_CALLBACK,
    config_view,
    kinds_page_view,
    parse_main,
    parse_page,
)
from bot.render.config_modal_rules import RULES_ACTION, RULES_CALLBACK, parse_rules, rules_view
from bot.render.config_modal_tools import TOOLS_ACTION, TOOLS_CALLBACK, parse_tools, tools_view
from bot.runtime.deps import Deps
from bot.runtime.workspaces import Workspaces
from handlers.home import publish_home

log = logging.getLogger(__name__)
NOT_ADMIN = ("Only tokenboard admins can change its configuration: workspace admins and "
             "owners, and the people an admin has added. Nothing was changed.")


def open_config(deps: Deps, client: WebClient, trigger_id: str, user: str) -> bool:
    """Open the modal for an admin; False (and nothing opened) for anyone else."""
    if not deps.is_admin(user, fresh=True):
        return False
    config, version = deps.store.configs.load_versioned()
    client.views_open(trigger_id=trigger_id, view=config_view(
        config, deps.settings.digest_time, deps.settings.timezone, version=version))
    return True


def digest_posting_problem(client: WebClient, channel: str) -> str | None:
    """Why the digest could not post in `channel` (asked of Slack: the bot cannot see it,
    it is archived, the bot is not in it), or None if it can. Whether a value is a channel
    id or name at all is `bot.core.channel_ids.channel_problem`."""
    try:
        info = client.conversations_info(channel=channel)["channel"]
    except SlackApiError as exc:
        error = exc.response.get("error")
        if error == "channel_not_found":
            return ("tokenboard cannot see this channel. Invite it first: type "
                    "/invite @tokenboard in the channel.")
        return f"Could not check this channel ({error})."
    if info.get("is_archived"):
        return "This channel is archived; choose another."
    if not info.get("is_member"):
        return ("tokenboard is not in this channel. Type /invite @tokenboard in the channel, "
                "then save again.")
    return None


def changed_by_others(deps: Deps, view: dict, user: str) -> str | None:
    """Refuse to overwrite changes another admin saved after this form was opened.

    The form carries every field, so saving it would silently undo their change. The
    version in private_metadata only says when the form was opened; it grants nothing.
    """
    try:
        opened = int(json.loads(view.get("private_metadata") or "{}").get("version", -1))
    except (ValueError, TypeError, AttributeError):
        opened = -1
    if opened < 0:
        return None
    others = [e for e in deps.store.configs.history(limit=50)
              if e["version"] > opened and e.get("by") != user]
    if not others:
        return None
    names = deps.directory.names([others[0]["by"]])
    who = plain_text(names.get(others[0]["by"], others[0]["by"]), limit=80)
    return (f"{who} changed the configuration after you opened this form "
            f"({'; '.join(others[0]['changes'])[:200]}). Close it and open it again, so "
            "their change is not undone.")


def _first_block(view: dict) -> str:
    return next(b["block_id"] for b in view["blocks"] if b["type"] == "input")


def register(app: App, workspaces: Workspaces) -> None:
    def refusal(deps: Deps, user: str, view: dict) -> dict[str, str] | None:
        """Errors refusing a submission outright: not an admin (asked afresh), or the form
        predates another admin's save."""
        problem = NOT_ADMIN if not deps.is_admin(user, fresh=True) else changed_by_others(
            deps, view, user)
        return {_first_block(view): problem} if problem else None

    def after_save(body: dict, client: WebClient, context: BoltContext) -> None:
        """Rescore if weights changed, then refresh the admin's App Home."""
        deps = workspaces.for_context(context)
        try:
            rebuild_scores(deps.store)
        finally:
            publish_home(deps, client, body["user"]["id"])

    Parse = Callable[[Deps, WebClient, dict, BoardConfig], tuple[BoardConfig, dict[str, str]]]

    def submit_parsed(parse: Parse) -> Callable[..., None]:
        """The listener of a settings view whose values `parse` reads: refused outright
        for a non-admin or a stale form, else saved unless `parse` found errors."""
        def submit(ack: Ack, body: dict, view: dict, client: WebClient,
                   context: BoltContext) -> None:
            deps = workspaces.for_context(context)
            user = body["user"]["id"]
            refused = refusal(deps, user, view)
            if refused:
                ack(response_action="errors", errors=refused)
                return
            new, errors = parse(deps, client, view["state"]["values"],
                                deps.store.configs.load())
            finish(ack, deps, new, errors, user, view)
        return submit

    def parse_main_page(deps: Deps, client: WebClient, values: dict, config: BoardConfig
                        ) -> tuple[BoardConfig, dict[str, str]]:
        new, errors = parse_main(values, config, deps.settings.digest_time,
                                 deps.settings.timezone)
        if new.digest_channel and "digest_channel" not in errors:
            problem = digest_posting_problem(client, new.digest_channel)
            if problem:
                errors["digest_channel"] = problem
        return new, errors

    def pure(parse: Callable[[dict, BoardConfig], tuple[BoardConfig, dict[str, str]]]
             ) -> Parse:
        return lambda _deps, _client, values, config: parse(values, config)

    submit_main = submit_parsed(parse_main_page)
    submit_page, submit_rules, submit_tools = (submit_parsed(pure(parse_page)),
                                               submit_parsed(pure(parse_rules)),
                                               submit_parsed(pure(parse_tools)))

    app.view(MAIN_CALLBACK)(ack=submit_main, lazy=[after_save])
    app.view(TOOLS_CALLBACK)(ack=submit_tools, lazy=[after_save])
    app.view(PAGE_CALLBACK)(ack=submit_page, lazy=[after_save])
    app.view(RULES_CALLBACK)(ack=submit_rules, lazy=[after_save])

    def push_page(view_of: Callable[[Deps, BoardConfig, int], dict]) -> Callable[..., None]:
        """The listener of a button that pushes a settings page (admins only)."""
        def open_page(ack: Ack, body: dict, client: WebClient, context: BoltContext) -> None:
            ack()
            deps = workspaces.for_context(context)
            if not deps.is_admin(body["user"]["id"]):
                return
            config, version = deps.store.configs.load_versioned()
            client.views_push(trigger_id=body["trigger_id"],
                              view=view_of(deps, config, version))
        return open_page

    app.action(RULES_ACTION)(push_page(lambda _deps, config, version:
                                       rules_view(config, version)))
    app.action(TOOLS_ACTION)(push_page(lambda deps, config, version: tools_view(
        config, deps.store.pulls.tool_sources(), version)))

    @app.action("open_config")
    def open_from_home(ack: Ack, body: dict, client: WebClient, context: BoltContext) -> None:
        ack()
        deps = workspaces.for_context(context)
        if not open_config(deps, client, body["trigger_id"], body["user"]["id"]):
            log.warning("%s is not an admin; configuration not opened", body["user"]["id"])

    @app.action(MORE_KINDS_ACTION)
    def more_kinds(ack: Ack, body: dict, action: dict, client: WebClient,
                   context: BoltContext) -> None:
        ack()
        deps = workspaces.for_context(context)
        if not deps.is_admin(body["user"]["id"]):
            return
        page = int(action.get("value") or 1)
        config, version = deps.store.configs.load_versioned()
        client.views_push(trigger_id=body["trigger_id"],
                          view=kinds_page_view(config, page, version=version))


def finish(ack: Ack, deps: Deps, new: BoardConfig, errors: dict[str, str], user: str,
           view: dict) -> None:
    """Save `new` unless the form had errors; answer the modal with what was wrong (a
    problem the configuration itself finds is shown on its field, else on the first)."""
    if not errors:
        try:
            save_configuration(deps.store, new, by=user)
        except ConfigInvalid as exc:
            errors = {k if k in view["state"]["values"] else _first_block(view): v
                      for k, v in exc.problems.items()}
    if errors:
        ack(response_action="errors", errors=errors)
        return
    ack()
