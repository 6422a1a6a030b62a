"""Slack interactions as Slack sends them (view submissions with every input's value,
block_actions, App Home opened) and the views the app published or opened in return."""

from __future__ import annotations

import json

from tests.conftest import App, HttpAnswer
from tests.rendered import shown
from tests.slack_signing import (
    APP_ID,
    TEAM_ID,
    VERIFICATION_TOKEN,
    event_body,
    interactive_body,
    new_trigger_id,
)
from tests.slack_stub import SlackStub
from tests.support.digest_posts import decoded
from tests.support.polling import wait_for

_INITIAL = object()


# -- building requests as Slack sends them ------------------------------------------------------


def _option(element: dict, value: str | None) -> dict | None:
    if value is None:
        return None
    return next(o for o in element["options"] if o["value"] == value)


def submitted_values(view: dict, overrides: dict[str, object] | None = None) -> dict:
    """`view.state.values` as Slack submits it: every input at its initial value, except the
    block ids in `overrides` (a string for text/number/channel/time, an option value for
    selects and radio buttons, a list for multi-selects and checkboxes)."""
    overrides = dict(overrides or {})
    values: dict[str, dict] = {}
    for block in view["blocks"]:
        if block["type"] != "input":
            continue
        element, block_id = block["element"], block["block_id"]
        kind = element["type"]
        given = overrides.pop(block_id, _INITIAL)
        initial = given is _INITIAL
        if kind in ("plain_text_input", "number_input"):
            state = {"value": element.get("initial_value") if initial else given}
        elif kind in ("static_select", "radio_buttons"):
            state = {"selected_option": element.get("initial_option") if initial
                     else _option(element, given)}  # type: ignore[arg-type]
        elif kind in ("multi_static_select", "checkboxes"):
            state = {"selected_options": element.get("initial_options") or [] if initial
                     else [_option(element, v) for v in given]}  # type: ignore[union-attr]
        elif kind == "conversations_select":
            state = {"selected_conversation": element.get("initial_conversation") if initial
                     else given}
        elif kind == "timepicker":
            state = {"selected_time": element.get("initial_time") if initial else given}
        elif kind == "multi_users_select":
            state = {"selected_users": element.get("initial_users") or [] if initial
                     else given}
        else:
            raise AssertionError(f"unexpected element type {kind} in {block_id}")
        values[block_id] = {element["action_id"]: {"type": kind, **state}}
    assert not overrides, f"no such input block: {sorted(overrides)}"
    return values


def _user(user: str) -> dict:
    name = user.lower()
    return {"id": user, "username": name, "name": name, "team_id": TEAM_ID}


def view_submission(view: dict, user: str, overrides: dict[str, object] | None = None,
                    private_metadata: str | None = None) -> dict:
    metadata = view.get("private_metadata", "") if private_metadata is None else private_metadata
    return {
        "type": "view_submission",
        "team": {"id": TEAM_ID, "domain": "test"},
        "user": _user(user),
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "trigger_id": new_trigger_id(),
        "view": {
            "id": "V123", "team_id": TEAM_ID, "type": "modal",
            "blocks": view["blocks"], "private_metadata": metadata,
            "callback_id": view["callback_id"],
            "state": {"values": submitted_values(view, overrides)},
            "hash": "1700000000.abcd", "title": view["title"],
            "clear_on_close": False, "notify_on_close": False,
            "close": view.get("close"), "submit": view.get("submit"),
            "previous_view_id": None, "root_view_id": "V123", "app_id": APP_ID,
            "external_id": "", "app_installed_team_id": TEAM_ID, "bot_id": "BBOT",
        },
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }


def publishes_for(stub: SlackStub, user: str) -> list[dict]:
    return [decoded(c.args["view"]) for c in stub.calls("views.publish")  # type: ignore[misc]
            if c.args.get("user_id") == user]


def submit(app: App, view: dict, user: str, overrides: dict[str, object] | None = None,
           private_metadata: str | None = None) -> HttpAnswer:
    """POST a view_submission and wait until its lazy listener (rescore, then refresh the
    submitter's App Home) has finished, so nothing runs on into the next test."""
    before = len(publishes_for(app.stub, user))
    answer = app.slack(interactive_body(view_submission(view, user, overrides,
                                                        private_metadata)))
    wait_for(lambda: len(publishes_for(app.stub, user)) > before)
    return answer


def block_actions(user: str, action_id: str, value: str, block_id: str, *,
                  view: dict | None = None, response_url: str | None = None) -> str:
    """A block_actions payload: a button in a modal (`view`) or in an ephemeral message."""
    payload: dict = {
        "type": "block_actions",
        "user": _user(user),
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "trigger_id": new_trigger_id(),
        "team": {"id": TEAM_ID, "domain": "test"},
        "enterprise": None,
        "is_enterprise_install": False,
        "actions": [{"action_id": action_id, "block_id": block_id, "value": value,
                     "type": "button", "action_ts": "1700000000.000100",
                     "text": {"type": "plain_text", "text": "button", "emoji": True}}],
    }
    if view is not None:
        payload["container"] = {"type": "view", "view_id": "V123"}
        payload["view"] = {"id": "V123", "team_id": TEAM_ID, "state": {"values": {}},
                           "hash": "1700000000.abcd", "root_view_id": "V123",
                           "app_id": APP_ID, "bot_id": "BBOT", **view}
    else:
        payload["container"] = {"type": "message", "message_ts": "1700000000.000200",
                                "channel_id": "C0TEST", "is_ephemeral": True}
        payload["channel"] = {"id": "C0TEST", "name": "general"}
        payload["state"] = {"values": {}}
        payload["response_url"] = response_url
    return interactive_body(payload)


def opened_views(stub: SlackStub, method: str = "views.open") -> list[dict]:
    return [decoded(c.args["view"]) for c in stub.calls(method)]  # type: ignore[misc]


# -- App Home ----------------------------------------------------------------------------------


def open_home(app: App, user: str, event_id: str) -> str:
    before = len(publishes_for(app.stub, user))
    event = {"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": "home",
             "event_ts": "1732440000.000300"}
    assert app.slack(event_body(event, event_id=event_id),
                     content_type="application/json").status == 200
    views = wait_for(lambda: publishes_for(app.stub, user)[before:])
    return shown(json.dumps(views[-1], ensure_ascii=False))
