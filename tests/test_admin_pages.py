"""The modal's pushed pages: thirty outcome kinds within Slack's limits and the rest on a
page of their own, the rules against cheap outcomes, the sources of each tool.

Real Redis and the Slack stub only.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.core.config import OutcomeRule
from tests.conftest import ADMIN, App
from tests.support.polling import wait_for
from tests.support.slack_interactions import (
    block_actions,
    opened_views,
    submit,
)
from tests.support.view_limits import check_view_limits, many_kinds_config

# -- many outcome kinds: Slack's limits and the pushed page ---------------------------------------


@pytest.mark.slow
def test_thirty_outcome_kinds_fit_and_the_rest_are_on_a_pushed_page(admin_app: App) -> None:
    stub, store = admin_app.stub, admin_app.deps.store
    config = many_kinds_config(30)
    kinds = list(config.outcomes)
    store.configs.save(config)
    admin_app.command("config", user_id=ADMIN, name="open")
    [view] = wait_for(lambda: opened_views(stub))
    ids = check_view_limits(view)
    # The main modal edits the first 20 kinds; the button leads to kinds 21-30.
    assert [i.split(":")[1] for i in ids if i.startswith("weight:")] == kinds[:20]
    [more] = [b for b in view["blocks"] if b.get("block_id") == "more_kinds"]
    [button] = more["elements"]
    assert button["action_id"] == "config_more_kinds" and button["value"] == "1"
    assert "21–30 of 30" in button["text"]["text"]

    click = block_actions(ADMIN, "config_more_kinds", "1", "more_kinds", view=view)
    assert admin_app.slack(click).status == 200
    [page] = opened_views(stub, "views.push")
    page_ids = check_view_limits(page)
    assert page["callback_id"] == "config_kinds"
    assert [i.split(":")[1] for i in page_ids if i.startswith("weight:")] == kinds[20:]
    assert "more_kinds" not in page_ids

    answer = submit(admin_app, page, ADMIN, {"weight:k25": "7", "cap:k25": "3",
                                             "transform:k25": "linear"})
    assert (answer.status, answer.body) == (200, b"")
    saved = store.configs.load()
    assert saved.outcomes["k25"] == OutcomeRule(label="Kind number 25", weight=7, cap=3,
                                                transform="linear")
    assert {k: r for k, r in saved.outcomes.items() if k != "k25"} == {
        k: r for k, r in config.outcomes.items() if k != "k25"}
    assert saved.model_dump(exclude={"outcomes"}) == config.model_dump(exclude={"outcomes"})
    [entry, _] = store.configs.history()
    assert entry["changes"] == ["k25 weight 1 → 7", "k25 cap 5 → 3",
                                "k25 transform sqrt → linear"]
    # An invalid value on the page is reported on its block.
    bad = submit(admin_app, page, ADMIN, {"cap:k30": "0"}).json()
    assert bad == {"response_action": "errors", "errors": {"cap:k30": bad["errors"]["cap:k30"]}}


@pytest.mark.slow
def test_the_rules_against_cheap_outcomes_page(admin_app: App) -> None:
    stub, store = admin_app.stub, admin_app.deps.store
    admin_app.command("config", user_id=ADMIN, name="open")
    [view] = wait_for(lambda: opened_views(stub))
    [rules] = [b for b in view["blocks"] if b.get("block_id") == "rules"]
    assert rules["elements"][0]["action_id"] == "config_open_rules"
    click = block_actions(ADMIN, "config_open_rules", "rules", "rules", view=view)
    assert admin_app.slack(click).status == 200
    [page] = opened_views(stub, "views.push")
    ids = check_view_limits(page)
    assert page["callback_id"] == "config_rules"
    assert {"review_quick_minutes", "review_pair_cap", "deploy_environments",
            "incident_low_urgency_fraction", "counterweight_incident"} <= set(ids)
    answer = submit(admin_app, page, ADMIN, {"review_quick_minutes": "10",
                                             "deploy_environments": "production, Prod EU",
                                             "incident_self_fraction": "0"})
    assert (answer.status, answer.body) == (200, b"")
    saved = store.configs.load()
    assert (saved.review_quick_minutes, saved.deploy_environments,
            saved.incident_self_fraction) == (10, ["production", "prod_eu"], 0.0)
    [entry, *_] = store.configs.history()
    assert entry["scoring"] is True
    assert entry["changes"] == ["review quick minutes 5 → 10", "deploy environments "
                                "production, prod, live → production, prod_eu",
                                "incident self fraction 0.1 → 0"]
    bad = submit(admin_app, page, ADMIN, {"ticket_unlinked_fraction": "1.5"}).json()
    assert list(bad["errors"]) == ["ticket_unlinked_fraction"]


@pytest.mark.slow
def test_the_sources_of_each_tool_page(admin_app: App) -> None:
    stub, store = admin_app.stub, admin_app.deps.store
    store.pulls.claim_tool("claude_code", "otlp")  # OpenTelemetry was heard first
    admin_app.command("config", user_id=ADMIN, name="open")
    [view] = wait_for(lambda: opened_views(stub))
    [button] = [b for b in view["blocks"] if b.get("block_id") == "tool_sources"]
    assert button["elements"][0]["action_id"] == "config_open_tools"
    click = block_actions(ADMIN, "config_open_tools", "tools", "tool_sources", view=view)
    assert admin_app.slack(click).status == 200
    [page] = wait_for(lambda: opened_views(stub, "views.push"))
    assert page["callback_id"] == "config_tools"
    assert check_view_limits(page) == ["source:claude_code", "source:copilot",
                                       "source:cursor", "source:openai"]
    claude = next(b for b in page["blocks"] if b.get("block_id") == "source:claude_code")
    assert claude["element"]["initial_option"]["text"]["text"] == (
        "First heard from (currently: OpenTelemetry)")
    answer = submit(admin_app, page, ADMIN, {"source:claude_code": "claude-code"})
    assert (answer.status, answer.body) == (200, b"")
    assert store.configs.load().tool_sources == {"claude_code": "claude-code"}
    [entry, *_] = store.configs.history()
    assert entry["changes"] == [
        "claude_code counts from claude-code (was the source first heard from)"]
    # /ingest's Claude Code usage is now left out, other tools' counted
    ts = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    answer = admin_app.ingest([
        {"id": "cc", "type": "usage", "user": "U0ANA", "ts": ts, "tool": "Claude Code",
         "tokens": 10},
        {"id": "mc", "type": "usage", "user": "U0ANA", "ts": ts, "tool": "meshclaw",
         "tokens": 5}]).json()
    assert answer["accepted"] == 1 and [r["id"] for r in answer["rejected"]] == ["cc"]
    assert "counts from the Claude Code Analytics API, not from /ingest" in (
        answer["rejected"][0]["error"])
    again = submit(admin_app, page, ADMIN, {"source:claude_code": "first",
                                            "source:cursor": "cursor"})
    assert (again.status, again.body) == (200, b"") and store.configs.load().tool_sources == {
        "cursor": "cursor"}
