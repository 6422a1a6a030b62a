"""Self-service identity claims: `/leaderboard link github LOGIN`, approved or rejected by
an admin with one click on App Home; nothing is linked before an admin approves."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from bot.core.config import BoardConfig
from bot.core.counts import Outcome
from bot.core.periods import ALL
from tests.conftest import App
from tests.support.polling import wait_for
from tests.support.slack_interactions import block_actions, open_home

pytestmark = pytest.mark.slow  # starts the app's HTTP server


def points(app: App) -> dict[str, float]:
    key = app.deps.store.keys.board("points", ALL)
    return {m.decode(): s for m, s in app.deps.store.r.zrange(key, 0, -1, withscores=True)}


def claim(app: App, user: str, text: str, name: str) -> str:
    app.command(f"link {text}", user_id=user, name=name)
    return wait_for(lambda: app.stub.responses(name))[-1]["text"]


def test_claim_is_approved_with_one_click_and_credits_the_past(app: App) -> None:
    app.stub.add_user("U0ADM", display_name="Adm", is_admin=True)
    app.stub.add_user("U0OCTO", display_name="Octo")
    yesterday = datetime.now(UTC) - timedelta(days=1)
    # a merged pull request from a GitHub login nobody is linked to yet: kept, not dropped
    kept = Outcome(id="github:pr:1", ts=yesterday, kind="pr_merged", fingerprint="x")
    assert app.deps.store.counting.record([(kept, "github:octocat")], BoardConfig()) == [1]

    reply = claim(app, "U0OCTO", "github Octocat", "c1")
    assert "Asked an admin" in reply and "github:octocat" in reply  # logins ignore case
    assert points(app) == {}  # nothing linked before an admin says so
    home = open_home(app, "U0ADM", "EvAdm1")
    assert "says `github:octocat` is them" in home and "claim_approve" in home
    assert "claim_approve" not in open_home(app, "U0OCTO", "EvOcto")

    value = json.dumps({"identity": "github:octocat", "user": "U0OCTO"})
    # somebody who is not an admin cannot approve
    app.slack(block_actions("U0OCTO", "claim_approve", value, "b1"))
    assert app.deps.identities.claims() and app.deps.identities.export() == []
    app.slack(block_actions("U0ADM", "claim_approve", value, "b1"))
    wait_for(lambda: app.stub.calls("chat.postMessage"))
    assert app.deps.identities.export() == [("U0OCTO", "github:octocat")]
    assert app.deps.identities.claims() == []
    assert points(app) == {"U0OCTO": 5.0}  # the kept merge: weight 5 × √1
    dm = app.stub.calls("chat.postMessage")[-1].args
    assert dm["channel"] == "U0OCTO" and "confirmed" in dm["text"]


def test_rejected_claim_links_nothing(app: App) -> None:
    app.stub.add_user("U0ADM", display_name="Adm", is_admin=True)
    app.stub.add_user("U0EVE", display_name="Eve")
    assert "Asked an admin" in claim(app, "U0EVE", "github ana", "c2")
    value = json.dumps({"identity": "github:ana", "user": "U0EVE"})
    app.slack(block_actions("U0ADM", "claim_reject", value, "b1"))
    wait_for(lambda: app.stub.calls("chat.postMessage"))
    assert app.deps.identities.export() == [] and app.deps.identities.claims() == []
    assert "did not confirm" in app.stub.calls("chat.postMessage")[-1].args["text"]


def test_bad_claims_say_how(app: App) -> None:
    assert "Say which identity" in claim(app, "U0EVE", "github", "c3")
    assert "not a source" in claim(app, "U0EVE", "myspace tom", "c4")
