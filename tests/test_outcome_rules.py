"""Each rule against cheap outcomes, through the real webhook routes: exact points, the
sentences that explain them, thresholds that re-rank the past on rescoring, and the
ring note for admins."""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.boards.rings import ring_lines, ring_note
from bot.boards.why import explain, why_lines
from bot.core.config import BoardConfig
from bot.core.outcome_rules import fraction_of, fractions, review_modifiers, step
from bot.core.periods import ALL
from bot.intake.scoring import rebuild_scores, save_configuration
from tests.conftest import App, http

GH, PD = "gh-rules", "pd-rules"
T0 = (datetime.now(UTC) - timedelta(days=1)).replace(hour=9, minute=0, second=0,
                                                      microsecond=0)
PEOPLE = ("ana", "ben", "cy", "dee")


def iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def user(login: str) -> dict:
    return {"login": login, "id": int(hashlib.sha1(login.encode()).hexdigest()[:8], 16)}


@pytest.fixture
def hooks(app: App) -> App:
    app.deps.settings = replace(app.deps.settings, github_webhook_secret=GH,
                                pagerduty_webhook_secret=PD)
    for login in PEOPLE:
        app.deps.identities.link(f"U0{login.upper()}", f"github:{login}")
        app.deps.identities.link(f"U0{login.upper()}", f"pagerduty:P{login.upper()}")
    return app


def gh(app: App, event: str, doc: dict) -> dict:
    doc.setdefault("repository", {"full_name": "acme/app"})
    body = json.dumps(doc).encode()
    answer = http("POST", app.url + "/webhooks/github", body, {
        "X-GitHub-Event": event, "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": "sha256=" + hmac.new(GH.encode(), body,
                                                    hashlib.sha256).hexdigest()})
    assert answer.status == 200, answer.body
    return answer.json()  # type: ignore[return-value]


def pd(app: App, event_type: str, incident: str, when: datetime, agent: dict,
       urgency: str = "high", created: datetime | None = None, title: str = "Down") -> dict:
    body = json.dumps({"event": {
        "id": str(uuid.uuid4()), "event_type": event_type, "occurred_at": iso(when),
        "agent": agent, "data": {"id": incident, "type": "incident", "urgency": urgency,
                                 "title": title, "created_at": iso(created or when)}}}).encode()
    answer = http("POST", app.url + "/webhooks/pagerduty", body, {
        "X-PagerDuty-Signature": "v1=" + hmac.new(PD.encode(), body,
                                                  hashlib.sha256).hexdigest()})
    assert answer.status == 200, answer.body
    return answer.json()  # type: ignore[return-value]


def board(app: App) -> dict[str, float]:
    key = app.deps.store.keys.board("points", ALL)
    return {m.decode(): s for m, s in app.deps.store.r.zrange(key, 0, -1, withscores=True)}


def pr(n: int, author: str, lines: int = 60, opened: datetime = T0, body: str = "") -> dict:
    return {"id": 5000 + n, "number": n, "user": user(author), "created_at": iso(opened),
            "updated_at": iso(opened), "additions": lines, "deletions": 0, "body": body,
            "title": "Change"}


def approve(app: App, p: dict, reviewer: str, when: datetime, rid: int) -> None:
    simple = {k: v for k, v in p.items() if k not in ("additions", "deletions")}
    gh(app, "pull_request_review", {"action": "submitted", "pull_request": simple, "review": {
        "id": rid, "user": user(reviewer), "state": "approved", "submitted_at": iso(when)}})


def merge(app: App, p: dict, by: str, when: datetime, sha: str = "") -> dict:
    return gh(app, "pull_request", {"action": "closed", "pull_request": {
        **p, "merged": True, "merged_at": iso(when), "merged_by": user(by),
        "merge_commit_sha": sha or f"{p['number']:040x}"}})


def rescore(app: App, **changes: object) -> None:
    store = app.deps.store
    save_configuration(store, store.configs.load().model_copy(update=changes), by="U0ADMIN")
    rebuild_scores(store)


@pytest.mark.slow
def test_quick_and_tiny_approvals_are_not_reviews_and_thresholds_rescore_the_past(
        hooks: App) -> None:
    # opened, pushed 20 minutes later, approved 3 minutes after that push: quick
    p = pr(1, "ana", lines=60)
    gh(hooks, "pull_request", {"action": "opened", "pull_request": p})
    pushed = T0 + timedelta(minutes=20)
    gh(hooks, "pull_request", {"action": "synchronize",
                               "pull_request": {**p, "updated_at": iso(pushed)}})
    approve(hooks, p, "ben", pushed + timedelta(minutes=3), 1)
    merge(hooks, p, "ana", pushed + timedelta(minutes=4))
    # a 3-line change approved after an hour: tiny (the review) and small (the merge)
    q = pr(2, "cy", lines=3)
    gh(hooks, "pull_request", {"action": "opened", "pull_request": q})
    approve(hooks, q, "dee", T0 + timedelta(hours=1), 2)
    scores = board(hooks)
    # ben's review: quick → 0. ana's merge: approved only quickly → 0.2 of a merge (5·√0.2)
    assert scores["U0BEN"] == 0.0
    assert scores["U0ANA"] == pytest.approx(5 * math.sqrt(0.2))
    assert scores["U0DEE"] == 0.0  # tiny
    # the threshold lowered to 2 minutes: the 3-minute review now counts, past included
    rescore(hooks, review_quick_minutes=2, review_tiny_lines=3)
    scores = board(hooks)
    assert scores["U0BEN"] == pytest.approx(2.0)
    assert scores["U0ANA"] == pytest.approx(5.0)
    assert scores["U0DEE"] == pytest.approx(2.0)  # 3 lines is not "fewer than 3"
    counts = {"o:review~rq3": 9.0, "o:review": 4.0}
    lines = why_lines(explain(counts, BoardConfig()))
    assert lines == ["13 reviews, 4 counted", "    9 reviews given within 5 minutes of the "
                     "pull request's opening or last push: not counted"]


@pytest.mark.slow
def test_pair_cap_and_reciprocal_discount(hooks: App) -> None:
    rescore(hooks, review_pair_cap=2, review_reciprocal_min=2,
            review_reciprocal_fraction=0.5)
    n = 10
    for k in range(3):  # ben reviews ana three times, then ana reviews ben twice
        p = pr(n + k, "ana", opened=T0 + timedelta(minutes=k))
        approve(hooks, p, "ben", T0 + timedelta(hours=1, minutes=k), 100 + k)
    for k in range(2):
        p = pr(n + 5 + k, "ben", opened=T0 + timedelta(minutes=10 + k))
        approve(hooks, p, "ana", T0 + timedelta(hours=2, minutes=k), 200 + k)
    # ben: 1st, 2nd counted; 3rd beyond the cap (0). ana: 1st (reverse 3, level 1) counts;
    # 2nd: level min(2, 3) = 2 ≥ 2 → 0.5.
    scores = board(hooks)
    assert scores["U0BEN"] == pytest.approx(2 * math.sqrt(2))
    assert scores["U0ANA"] == pytest.approx(2 * math.sqrt(1.5))
    note = ring_note(hooks.deps, hooks.deps.store.configs.load(), now=T0)
    assert note is not None and note.count("\n• ") == 1
    assert ": 2 and 3 reviews of each other (" in note
    assert ring_lines([{"a": "github:ana", "b": "github:ben", "ab": 2, "ba": 3}],
                      {"github:ana": "Ana <x>"}, "2026-W49") == [
        "Ana &lt;x&gt; ⇄ github:ben: 2 and 3 reviews of each other (2026-W49)"]


@pytest.mark.slow
def test_tickets_deploys_and_incidents(hooks: App) -> None:
    # a ticket ana opened and closed 4 minutes later, with no linked change: 0.1 × 0.5
    gh(hooks, "issues", {"action": "closed", "sender": user("ana"), "issue": {
        "id": 1, "number": 1, "user": user("ana"), "state_reason": "completed",
        "created_at": iso(T0), "closed_at": iso(T0 + timedelta(minutes=4))}})
    # a ticket closed by the merge that says "Fixes #2", opened by someone else: full
    merge(hooks, pr(3, "ben", body="Fixes #2"), "cy", T0 + timedelta(hours=1))
    gh(hooks, "issues", {"action": "closed", "sender": user("cy"), "issue": {
        "id": 2, "number": 2, "user": user("dee"), "state_reason": "completed",
        "created_at": iso(T0 - timedelta(days=2)), "closed_at": iso(T0 + timedelta(hours=1))}})
    assert board(hooks)["U0ANA"] == pytest.approx(3 * math.sqrt(0.05))
    assert board(hooks)["U0CY"] == pytest.approx(3.0)

    def deploy(who: str, sid: int, sha: str, env: str, prod: bool | None,
               state: str = "success") -> None:
        gh(hooks, "deployment_status", {
            "deployment_status": {"id": sid, "state": state, "created_at": iso(T0)},
            "deployment": {"sha": sha, "environment": env, "creator": user(who),
                           **({"production_environment": prod} if prod is not None else {})}})

    deploy("dee", 1, "a" * 40, "production", True)
    deploy("dee", 2, "a" * 40, "production", True)  # a redeploy of the same commit: 0
    deploy("dee", 3, "b" * 40, "preview-7", False)  # not production: 0
    deploy("dee", 4, "c" * 40, "prod-eu", False)  # not production until listed
    assert board(hooks)["U0DEE"] == pytest.approx(3.0)
    rescore(hooks, deploy_environments=["production", "prod-eu"])
    assert board(hooks)["U0DEE"] == pytest.approx(3 * math.sqrt(2))
    # a failed deploy of #3's merge commit takes half of ben's merge back
    before = board(hooks)["U0BEN"]
    deploy("dee", 5, f"{3:040x}", "production", True, state="failure")
    assert before == pytest.approx(5.0)
    assert board(hooks)["U0BEN"] == pytest.approx(5 * (1 - math.sqrt(0.5)))

    # incidents: monitoring-triggered, resolved by ben after 40 minutes: full (5)
    service = {"id": "PMON", "type": "service_reference"}
    pd(hooks, "incident.triggered", "PI1", T0, service)
    pd(hooks, "incident.resolved", "PI1", T0 + timedelta(minutes=40),
       {"id": "PBEN", "type": "user_reference"}, created=T0)
    # triggered by ana herself, low urgency, resolved by her 2 minutes later
    ana = {"id": "PANA", "type": "user_reference"}
    pd(hooks, "incident.triggered", "PI2", T0, ana, urgency="low")
    pd(hooks, "incident.resolved", "PI2", T0 + timedelta(minutes=2), ana, urgency="low",
       created=T0)
    scores = board(hooks)
    assert scores["U0BEN"] == pytest.approx(5 * (1 - math.sqrt(0.5)) + 5.0)
    assert scores["U0ANA"] == pytest.approx(3 * math.sqrt(0.05)
                                            + 5 * math.sqrt(0.1 * 0.25 * 0.5))


@pytest.mark.slow
def test_an_incident_naming_a_pull_request_takes_a_share_back(hooks: App) -> None:
    merge(hooks, pr(4, "cy"), "ben", T0)
    assert board(hooks)["U0CY"] == pytest.approx(5.0)
    pd(hooks, "incident.triggered", "PI3", T0 + timedelta(hours=1),
       {"id": "PMON", "type": "service_reference"},
       title="Checkout 500s after https://github.com/acme/app/pull/4")
    assert board(hooks)["U0CY"] == pytest.approx(5 * (1 - math.sqrt(0.5)))
    why = explain(hooks.deps.store.reads.day_counts(T0.date(), "U0CY"), BoardConfig())
    assert why_lines(why)[-1] == "1 merged pull requests taken back because an incident named them"


@pytest.mark.slow
def test_modifiers_and_fractions_agree_with_the_lua(hooks: App) -> None:
    assert step(0.3, (1, 2)) == 0 and step(1, (1, 2)) == 1 and step(2, (1, 2)) is None
    assert review_modifiers(0.5, 1000, 3, 1) == ("rn3", "rq0", "rr1")
    table = fractions(BoardConfig())
    assert fraction_of(("rn6",), table) == 0.0 and fraction_of(("rn5",), table) == 1.0
    assert fraction_of(("env_staging",), table) == 0.0
    assert fraction_of(("env_live",), table) == 1.0


