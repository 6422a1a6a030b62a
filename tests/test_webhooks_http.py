"""Webhooks end to end: GitHub, GitLab and PagerDuty deliveries signed as they sign them,
against the real server; exact points, dedupe across deliveries, refusals, and the rules
that keep trivial work from paying.

GitHub deliveries start from the suite's own payloads (tests/payloads/github); the test
marked `reference` also delivers octokit/webhooks' examples from ../shared (tests/reference.py:
skipped without it, a failure in CI)."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import math
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.core.periods import ALL, day_bucket, local_date
from bot.intake.scoring import rebuild_scores, save_configuration
from tests.conftest import App, HttpAnswer, Outage, http
from tests.reference import reference_dir
from tests.support.webhook_requests import (
    GH_SECRET,
    GL_TOKEN,
    NOW,
    PD_SECRET,
    iso,
    merged_pr,
    payload,
    user,
)


@pytest.fixture
def hooks(app: App) -> App:
    app.deps.settings = replace(app.deps.settings, github_webhook_secret=GH_SECRET,
                                gitlab_webhook_token=GL_TOKEN,
                                pagerduty_webhook_secret=PD_SECRET)
    for login, slack_user in (("octo", "U0OCTO"), ("rev", "U0REV"), ("bea", "U0BEA")):
        app.deps.identities.link(slack_user, f"github:{login}")
    return app


def github(app: App, event: str, doc: dict | bytes, secret: str = GH_SECRET,
           delivery: str | None = None) -> HttpAnswer:
    body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return http("POST", app.url + "/webhooks/github", body, {
        "Content-Type": "application/json", "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()), "X-Hub-Signature-256": signature})


def review(pr: dict, reviewer: str, review_id: int, state: str = "approved") -> dict:
    doc = payload("pull_request_review/submitted.json")
    doc["pull_request"] = copy.deepcopy(pr["pull_request"])
    doc["repository"]["full_name"] = "acme/api"
    doc["review"].update(id=review_id, state=state, submitted_at=iso(NOW), user=user(reviewer))
    return doc


def points(app: App, day: datetime = NOW) -> dict[str, float]:
    key = app.deps.store.keys.board("points", day_bucket(local_date(day, UTC)))
    return {m.decode(): s for m, s in app.deps.store.r.zrange(key, 0, -1, withscores=True)}


@pytest.mark.slow
def test_github_merged_pr_review_deploy_and_issue(hooks: App) -> None:
    pr = merged_pr(1001, 7, "octo", "rev", body="Fixes #77")
    assert github(hooks, "pull_request", review(pr, "rev", 1, "approved")).status == 200
    assert github(hooks, "pull_request_review", review(pr, "rev", 1)).json() == {
        "counted": 1, "duplicates": 0}
    answer = github(hooks, "pull_request", pr)
    assert answer.status == 200 and answer.json() == {"counted": 1, "duplicates": 0}
    deploy = payload("deployment_status/success.json")
    deploy["deployment"]["creator"] = user("bea")
    deploy["deployment_status"]["created_at"] = iso(NOW)
    assert github(hooks, "deployment_status", deploy).json()["counted"] == 1
    # the issue is closed by the merged pull request ("Fixes #77"), so it counts in full
    issue = payload("issues/closed.json")
    issue["issue"].update(number=77, closed_at=iso(NOW))
    issue["repository"]["full_name"] = "acme/api"
    issue["sender"] = user("bea")
    assert github(hooks, "issues", issue).json()["counted"] == 1
    # pr_merged 5·√1; review 2·√1; deploy 3·√1 + ticket_resolved 3·√1
    assert points(hooks) == {"U0OCTO": 5.0, "U0REV": 2.0, "U0BEA": 6.0}


@pytest.mark.slow
def test_the_same_object_counts_once_whatever_the_delivery(hooks: App) -> None:
    pr = merged_pr(1002, 8, "octo", "rev")
    first = github(hooks, "pull_request", pr, delivery="d-1")
    redelivered = github(hooks, "pull_request", pr, delivery="d-1")
    org_hook = github(hooks, "pull_request", pr, delivery="d-2")  # org and repo hooks
    assert [a.json()["counted"] for a in (first, redelivered, org_hook)] == [1, 0, 0]
    # replies in a review thread are one review per reviewer and pull request
    for review_id in (11, 12, 13):
        github(hooks, "pull_request_review", review(pr, "rev", review_id, "commented"))
    assert points(hooks) == {"U0OCTO": 5.0, "U0REV": 2.0}


@pytest.mark.slow
def test_what_is_not_counted(hooks: App) -> None:
    closed = payload("pull_request/closed.json")  # closed without merging
    closed["pull_request"]["closed_at"] = iso(NOW)
    assert github(hooks, "pull_request", closed).json() == {"counted": 0, "duplicates": 0}
    self_review = payload("pull_request_review/submitted.json")
    self_review["review"]["user"] = copy.deepcopy(self_review["pull_request"]["user"])
    self_review["review"]["submitted_at"] = iso(NOW)
    assert github(hooks, "pull_request_review", self_review).json()["counted"] == 0
    assert github(hooks, "ping", payload("ping.json")).status == 200
    assert github(hooks, "push", payload("push.json")).json()["counted"] == 0
    assert github(hooks, "deployment", payload("deployment/created.json")).status == 200
    assert github(hooks, "star", {"action": "created"}).status == 200
    assert points(hooks) == {}


@pytest.mark.slow
@pytest.mark.reference
def test_reference_octokit_examples_count_nothing(hooks: App) -> None:
    """octokit/webhooks' examples (../shared/fixtures/github): a pull request closed without
    merging and a review of one's own pull request, delivered as GitHub delivers them."""
    examples = reference_dir("github")
    closed = json.loads((examples / "pull_request/closed.payload.json").read_text())
    assert github(hooks, "pull_request", closed).json() == {"counted": 0, "duplicates": 0}
    self_review = json.loads((examples / "pull_request_review/submitted.payload.json")
                             .read_text())
    assert github(hooks, "pull_request_review", self_review).json() == {
        "counted": 0, "duplicates": 0}
    assert points(hooks) == {}


@pytest.mark.slow
def test_refusals_count_nothing(hooks: App, app: App) -> None:
    pr = merged_pr(1003, 9, "octo", "rev")
    assert github(hooks, "pull_request", pr, secret="wrong").status == 401
    body = json.dumps(pr).encode()
    unsigned = http("POST", hooks.url + "/webhooks/github", body,
                    {"Content-Type": "application/json", "X-GitHub-Event": "pull_request"})
    assert unsigned.status == 401
    assert github(hooks, "pull_request", b"{not json").status == 400
    assert github(hooks, "pull_request", b"[1, 2]").status == 400
    assert points(hooks) == {}
    hooks.deps.settings = replace(hooks.deps.settings, pagerduty_webhook_secret="")
    answer = http("POST", hooks.url + "/webhooks/pagerduty", b"{}",
                  {"Content-Type": "application/json"})
    assert answer.status == 404 and "PAGERDUTY_WEBHOOK_SECRET" in answer.json()["error"]
    assert http("GET", hooks.url + "/webhooks/github").status == 405
    assert http("POST", hooks.url + "/webhooks/jira", b"{}").status == 404


@pytest.mark.slow
def test_redis_down_is_503_and_the_retry_counts_once(outage: Outage) -> None:
    app = outage.app
    app.deps.settings = replace(app.deps.settings, github_webhook_secret=GH_SECRET)
    app.deps.identities.link("U0OCTO", "github:octo")
    pr = merged_pr(1004, 10, "octo", "rev")
    outage.redis.stop()
    down = github(app, "pull_request", pr, delivery="x")
    assert down.status == 503 and down.headers.get("Retry-After")
    outage.redis.start()
    assert github(app, "pull_request", pr, delivery="x").json()["counted"] == 1
    assert github(app, "pull_request", pr, delivery="x").json()["counted"] == 0
    assert points(app) == {"U0OCTO": 5.0}


@pytest.mark.slow
def test_small_self_merged_and_reverted_pull_requests(hooks: App) -> None:
    # tiny (3 lines), merged by someone else: 0.2 of a merge; weight 5, √
    github(hooks, "pull_request", merged_pr(2001, 21, "octo", "rev", lines=3))
    assert points(hooks)["U0OCTO"] == pytest.approx(5 * math.sqrt(0.2))
    # normal size, merged by its author with no approving review from anyone else: 0.5
    github(hooks, "pull_request", merged_pr(2002, 22, "bea", "bea"))
    assert points(hooks)["U0BEA"] == pytest.approx(5 * math.sqrt(0.5))
    # the author's own approval does not count; another person's does
    pr = merged_pr(2003, 23, "rev", "rev")
    github(hooks, "pull_request_review", review(pr, "octo", 31, "approved"))
    github(hooks, "pull_request", pr)
    assert points(hooks)["U0REV"] == pytest.approx(5.0)
    # tiny and self-merged: the fractions multiply (0.2 × 0.5)
    github(hooks, "pull_request", merged_pr(2004, 24, "bea", "bea", lines=2))
    assert points(hooks)["U0BEA"] == pytest.approx(5 * math.sqrt(0.5 + 0.1))
    # a revert of #23 takes it back from its author; the revert itself earns nothing
    revert = merged_pr(2005, 25, "octo", "bea", title='Revert "Add a feature"',
                       body="Reverts acme/api#23")
    assert github(hooks, "pull_request", revert).json()["counted"] == 1
    all_time = {m.decode(): s for m, s in hooks.deps.store.r.zrange(
        hooks.deps.store.keys.board("points", ALL), 0, -1, withscores=True)}
    assert all_time["U0REV"] == pytest.approx(0.0)
    # octo: the tiny merge and the review of #23 (2); the reverter (bea) gains nothing
    assert all_time["U0OCTO"] == pytest.approx(5 * math.sqrt(0.2) + 2)
    assert all_time["U0BEA"] == pytest.approx(5 * math.sqrt(0.5 + 0.1))


@pytest.mark.slow
def test_changed_fractions_rescore_the_past(hooks: App) -> None:
    yesterday = NOW - timedelta(days=1)
    github(hooks, "pull_request", merged_pr(3001, 31, "octo", "rev", lines=3,
                                            when=yesterday))
    github(hooks, "pull_request", merged_pr(3002, 32, "octo", "octo", when=yesterday))
    assert points(hooks, yesterday)["U0OCTO"] == pytest.approx(5 * math.sqrt(0.2 + 0.5))
    config = hooks.deps.store.configs.load().model_copy(
        update={"pr_small_fraction": 0.0, "pr_self_merge_fraction": 1.0})
    save_configuration(hooks.deps.store, config, by="test")
    rebuild_scores(hooks.deps.store)
    assert points(hooks, yesterday)["U0OCTO"] == pytest.approx(5 * math.sqrt(1.0))


def gitlab(app: App, event: str, doc: dict, token: str = GL_TOKEN) -> HttpAnswer:
    return http("POST", app.url + "/webhooks/gitlab", json.dumps(doc).encode(), {
        "Content-Type": "application/json", "X-Gitlab-Event": event, "X-Gitlab-Token": token,
        "X-Gitlab-Event-UUID": str(uuid.uuid4())})


@pytest.mark.slow
def test_gitlab_merge_request_and_deployment(hooks: App) -> None:
    hooks.deps.identities.link("U0ANA", "gitlab:ana")
    merge = {"object_kind": "merge_request", "event_type": "merge_request",
             "user": {"id": 5, "username": "ana", "name": "Ana"},
             "project": {"id": 1, "path_with_namespace": "acme/web"},
             "object_attributes": {"id": 99, "iid": 4, "action": "merge", "state": "merged",
                                   "author_id": 5, "title": "Faster search",
                                   "description": "", "updated_at": iso(NOW),
                                   "url": "https://gitlab.example.com/acme/web/-/merge_requests/4"}}
    assert gitlab(hooks, "Merge Request Hook", merge, token="nope").status == 401
    assert gitlab(hooks, "Merge Request Hook", merge).json()["counted"] == 1
    assert gitlab(hooks, "Merge Request Hook", merge).json()["counted"] == 0
    deploy = {"object_kind": "deployment", "status": "success", "deployment_id": 15,
              "status_changed_at": NOW.strftime("%Y-%m-%d %H:%M:%S +0000"),
              "user": {"id": 5, "username": "ana", "name": "Ana"},
              "project": {"id": 1, "path_with_namespace": "acme/web"},
              "environment": "production"}
    assert gitlab(hooks, "Deployment Hook", deploy).json()["counted"] == 1
    # merged by its author, no approval: 0.5 of a merge; deploy 3
    assert points(hooks)["U0ANA"] == pytest.approx(5 * math.sqrt(0.5) + 3)


def pagerduty(app: App, doc: dict, secrets: tuple[str, ...] = (PD_SECRET,)) -> HttpAnswer:
    body = json.dumps(doc).encode()
    signature = ",".join("v1=" + hmac.new(s.encode(), body, hashlib.sha256).hexdigest()
                         for s in secrets)
    return http("POST", app.url + "/webhooks/pagerduty", body, {
        "Content-Type": "application/json", "X-PagerDuty-Signature": signature})


@pytest.mark.slow
def test_pagerduty_resolved_incident_with_rotated_secrets(hooks: App) -> None:
    hooks.deps.identities.link("U0SRE", "pagerduty:PSRE1")
    event = {"event": {"id": "01EVT", "event_type": "incident.resolved",
                       "resource_type": "incident", "occurred_at": iso(NOW),
                       "agent": {"id": "PSRE1", "type": "user_reference"},
                       "data": {"id": "PINC9", "type": "incident",
                                "html_url": "https://acme.pagerduty.com/incidents/PINC9"}}}
    assert pagerduty(hooks, event, secrets=("old-secret",)).status == 401
    assert pagerduty(hooks, event, secrets=("old-secret", PD_SECRET)).json()["counted"] == 1
    assert pagerduty(hooks, event).json()["counted"] == 0
    assert points(hooks) == {"U0SRE": 5.0}


@pytest.mark.slow
def test_unlinked_logins_are_kept_and_credited(hooks: App) -> None:
    answer = github(hooks, "pull_request", merged_pr(4001, 41, "newbie", "rev"))
    assert answer.json() == {"counted": 1, "duplicates": 0, "unmapped": ["github:newbie"]}
    assert points(hooks) == {}
    hooks.deps.identities.link("U0NEW", "github:newbie")
    assert points(hooks) == {"U0NEW": 5.0}
