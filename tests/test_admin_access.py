"""Who may configure tokenboard: configured admins, workspace admins and owners (and not
a demoted one), the modal they open, App Home's last changes and button for admins, and a
form opened before another admin's save.

Real Redis and the Slack stub only.
"""

from __future__ import annotations

import json

import pytest

from bot.core.config import DEFAULT_OUTCOMES, BoardConfig
from bot.render.config_modal import config_view, kinds_page_view
from handlers.admin import NOT_ADMIN
from tests.conftest import ADMIN, App
from tests.rendered import shown
from tests.support.polling import wait_for
from tests.support.slack_interactions import (
    block_actions,
    open_home,
    opened_views,
    publishes_for,
    submit,
)
from tests.support.view_limits import check_view_limits, many_kinds_config

# -- who is an admin ---------------------------------------------------------------------------


@pytest.mark.slow
def test_non_admin_submission_is_refused_and_changes_nothing(admin_app: App) -> None:
    admin_app.stub.add_user("U0NOBODY", display_name="Nobody")
    view = config_view(admin_app.deps.store.configs.load())
    # private_metadata claims admin rights: it must not matter.
    forged = json.dumps({"page": 0, "admin": True, "user": ADMIN})
    answer = submit(admin_app, view, "U0NOBODY", {"weight:pr_merged": "8"},
                    private_metadata=forged)
    body = answer.json()
    assert body["response_action"] == "errors"
    assert list(body["errors"].values()) == [NOT_ADMIN]
    assert set(body["errors"]) <= {b["block_id"] for b in view["blocks"] if b["type"] == "input"}
    assert admin_app.deps.store.configs.load_versioned() == (BoardConfig(), 0)
    assert admin_app.deps.store.configs.history() == []

    # The pushed page of outcome kinds checks again, too.
    many = many_kinds_config(30)
    admin_app.deps.store.configs.save(many)
    page = kinds_page_view(many, 1)
    answer = submit(admin_app, page, "U0NOBODY", {"weight:k21": "9"})
    assert list(answer.json()["errors"].values()) == [NOT_ADMIN]
    assert admin_app.deps.store.configs.load_versioned() == (many, 1)
    # ... and a non-admin's click on "more kinds" pushes nothing.
    click = block_actions("U0NOBODY", "config_more_kinds", "1", "more_kinds",
                          view=config_view(many))
    assert admin_app.slack(click).status == 200
    assert admin_app.stub.calls("views.push") == []


@pytest.mark.slow
def test_opening_the_modal(admin_app: App) -> None:
    stub = admin_app.stub
    stub.add_user("U0NOBODY", display_name="Nobody")
    assert admin_app.command("config", user_id="U0NOBODY", name="refused").status == 200
    [reply] = wait_for(lambda: stub.responses("refused"))
    assert reply["text"] == NOT_ADMIN and reply["response_type"] == "ephemeral"
    assert stub.calls("views.open") == []

    admin_app.command("config", user_id=ADMIN, name="opened")
    [view] = wait_for(lambda: opened_views(stub))
    ids = check_view_limits(view)
    assert view["callback_id"] == "config_modal" and view["title"]["text"] \
        == "Configure tokenboard"
    for block_id in ("raw_metric", "new_kind", "remove_kinds", "digest_channel", "digest_time",
                     "timezone", "board_size", "digest_enabled", "display", "flags", "admins"):
        assert block_id in ids
    for kind in DEFAULT_OUTCOMES:
        assert {f"weight:{kind}", f"cap:{kind}", f"transform:{kind}"} <= set(ids)
    assert stub.responses("opened") == []

    # The App Home button opens it for admins only.
    clicks = [block_actions(ADMIN, "open_config", "open", "admin_actions"),
              block_actions("U0NOBODY", "open_config", "open", "admin_actions")]
    for body in clicks:
        assert admin_app.slack(body).status == 200
    assert len(stub.calls("views.open")) == 2  # the command above and the admin's click


@pytest.mark.slow
def test_workspace_admins_owners_and_configured_admins_count(app: App) -> None:
    stub = app.stub
    stub.add_user("U0WSADMIN", display_name="Admin", is_admin=True)
    stub.add_user("U0WSOWNER", display_name="Owner", is_owner=True)
    stub.add_user("U0LISTED", display_name="Listed")
    stub.add_user("U0MEMBER", display_name="Member")
    app.deps.store.configs.save(BoardConfig(admins=["U0LISTED"]))
    for user in ("U0WSADMIN", "U0WSOWNER", "U0LISTED", "U0MEMBER"):
        app.command("config", user_id=user, name=user)
    wait_for(lambda: len(stub.calls("views.open")) == 3 and stub.responses("U0MEMBER"))
    assert stub.responses("U0MEMBER")[0]["text"] == NOT_ADMIN
    for user in ("U0WSADMIN", "U0WSOWNER", "U0LISTED"):
        assert stub.responses(user) == []

    # The configured admin saves; once removed from the list they no longer can.
    view = config_view(app.deps.store.configs.load())
    assert submit(app, view, "U0LISTED", {"admins": []}).body == b""
    assert app.deps.store.configs.load().admins == []
    refused = submit(app, view, "U0LISTED", {"board_size": "20"}).json()
    assert list(refused["errors"].values()) == [NOT_ADMIN]
    assert app.deps.store.configs.load().board_size == 10


@pytest.mark.slow
def test_app_home_shows_admins_the_last_changes_and_the_button(app: App) -> None:
    app.stub.add_user("U0ANA", display_name="Ana", is_admin=True)
    app.stub.add_user("U0BOB", display_name="Bob")
    view = config_view(app.deps.store.configs.load())
    submit(app, view, "U0ANA", {"weight:pr_merged": "8"})
    # The save itself refreshed Ana's home.
    assert "Ana: pr_merged weight 5 → 8" in shown(json.dumps(
        publishes_for(app.stub, "U0ANA")[-1], ensure_ascii=False))
    home = open_home(app, "U0ANA", "EvAna")
    assert "Ana: pr_merged weight 5 → 8" in home
    assert "Configure tokenboard" in home and '"open_config"' in home

    home = open_home(app, "U0BOB", "EvBob")
    assert "pr_merged weight" not in home
    assert "Configure tokenboard" not in home and "open_config" not in home


@pytest.mark.slow
def test_a_form_opened_before_another_admins_save_cannot_undo_it(app: App) -> None:
    app.stub.add_user("U0ANA", display_name="Ana", is_admin=True)
    app.stub.add_user("U0BEN", display_name="Ben", is_admin=True)
    config, version = app.deps.store.configs.load_versioned()
    stale_form = config_view(config, version=version)  # Ana opens the form at version 0
    # Ben saves first: review weight 2 → 4.
    assert submit(app, config_view(config, version=version), "U0BEN",
                  {"weight:review": "4"}).body == b""
    # Ana's form still shows review weight 2; saving it would put 2 back.
    answer = submit(app, stale_form, "U0ANA", {"weight:pr_merged": "8"}).json()
    assert answer["response_action"] == "errors"
    [message] = answer["errors"].values()
    assert "Ben changed the configuration" in message and "review weight 2 → 4" in message
    saved = app.deps.store.configs.load()
    assert saved.outcomes["review"].weight == 4 and saved.outcomes["pr_merged"].weight == 5
    # Reopened at the new version, her change goes through and keeps Ben's.
    fresh_config, fresh_version = app.deps.store.configs.load_versioned()
    assert submit(app, config_view(fresh_config, version=fresh_version), "U0ANA",
                  {"weight:pr_merged": "8"}).body == b""
    saved = app.deps.store.configs.load()
    assert saved.outcomes["review"].weight == 4 and saved.outcomes["pr_merged"].weight == 8
    # Her own later saves never count as a conflict with her own form.
    assert submit(app, config_view(fresh_config, version=fresh_version), "U0ANA",
                  {"weight:pr_merged": "9"}).body == b""


@pytest.mark.slow
def test_a_demoted_workspace_admin_is_refused_although_the_profile_is_cached(
        app: App) -> None:
    app.stub.add_user("U0EX", display_name="Ex", is_admin=True)
    assert app.deps.is_admin("U0EX")  # cached for a day as an admin
    app.stub.add_user("U0EX", display_name="Ex", is_admin=False)  # demoted in Slack
    answer = submit(app, config_view(app.deps.store.configs.load()), "U0EX",
                    {"weight:pr_merged": "8"}).json()
    assert list(answer["errors"].values()) == [NOT_ADMIN]
    assert app.deps.store.configs.history() == []
