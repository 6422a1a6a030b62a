"""Wire formats of the signed webhooks: GitHub, GitLab, PagerDuty (pure, no Redis).

GitHub payloads are the suite's own (tests/payloads/github/, written from GitHub's webhook
documentation); tests marked `reference` also run octokit/webhooks' examples from
../shared/fixtures/github and compare our payloads' shape with them (tests/reference.py:
skipped without ../shared, a failure in CI). GitLab and PagerDuty payloads are built from
their documented examples (GitLab "Webhook events", PagerDuty "V3 Webhooks"). Every
expected value is written out by hand; signature vectors were computed with
`openssl dgst -sha256 -hmac`.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.sources.github import github_facts, github_reverts, github_verify
from bot.sources.gitlab import gitlab_facts, gitlab_reverts, gitlab_verify
from bot.sources.pagerduty import pagerduty_event_id, pagerduty_facts, pagerduty_verify
from bot.sources.webhook_facts import Fact, WebhookError, timestamp
from tests.reference import reference_dir, shape_differences

PAYLOADS = Path(__file__).resolve().parent / "payloads" / "github"


def load(name: str) -> dict[str, Any]:
    """One of the suite's own GitHub payloads (a fresh copy each time)."""
    return json.loads((PAYLOADS / name).read_text(encoding="utf-8"))


def octokit(name: str) -> dict[str, Any]:
    """One of octokit/webhooks' examples in ../shared (skips, or fails in CI, without it)."""
    return json.loads((reference_dir("github") / name).read_text(encoding="utf-8"))


def raw(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def refused(status: int, call: Any, *args: Any) -> WebhookError:
    with pytest.raises(WebhookError) as info:
        call(*args)
    assert info.value.status == status
    return info.value


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# ---------------------------------------------------------------------------------------
# GitHub: signatures

DOCS_SECRET = "It's a Secret to Everybody"
DOCS_PAYLOAD = b"Hello, World!"
DOCS_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_github_documented_test_vector_passes() -> None:
    github_verify(DOCS_SECRET, DOCS_PAYLOAD, DOCS_SIGNATURE)
    github_verify(DOCS_SECRET, DOCS_PAYLOAD, DOCS_SIGNATURE.upper().replace("SHA256", "sha256"))
    github_verify(DOCS_SECRET, DOCS_PAYLOAD, f"  {DOCS_SIGNATURE}\r\n")


@pytest.mark.parametrize(("secret", "body", "header"), [
    (DOCS_SECRET, b"Hello, World?", DOCS_SIGNATURE),  # body changed
    ("It's a secret to everybody", DOCS_PAYLOAD, DOCS_SIGNATURE),  # other secret
    (DOCS_SECRET, DOCS_PAYLOAD, DOCS_SIGNATURE[len("sha256="):]),  # no "sha256=" prefix
    (DOCS_SECRET, DOCS_PAYLOAD, "sha1=" + DOCS_SIGNATURE[len("sha256="):]),
    (DOCS_SECRET, DOCS_PAYLOAD, DOCS_SIGNATURE[:-1] + "8"),  # one digit off
    (DOCS_SECRET, DOCS_PAYLOAD, DOCS_SIGNATURE + "00"),
    (DOCS_SECRET, DOCS_PAYLOAD, "sha256=ünïcødé"),  # not ASCII: refused, not TypeError
    (DOCS_SECRET, DOCS_PAYLOAD, ""),
    (DOCS_SECRET, DOCS_PAYLOAD, None),
    ("", DOCS_PAYLOAD, DOCS_SIGNATURE),  # no secret configured: nothing verifies
])
def test_github_wrong_signatures_are_401(secret: str, body: bytes, header: str | None) -> None:
    refused(401, github_verify, secret, body, header)


# ---------------------------------------------------------------------------------------
# GitHub: facts from the suite's own payloads (tests/payloads/github)

BILLING = "https://github.com/Nimbus-Works/billing-api"


def merged_pr() -> dict[str, Any]:
    """#214 by Mara-Okafor, merged by jpark-dev: 86 additions, 23 deletions."""
    return load("pull_request/merged.json")


def reviewed(login: str, user_id: int, state: str) -> dict[str, Any]:
    """jpark-dev's approval of #214, as submitted by someone else."""
    doc = load("pull_request_review/submitted.json")
    doc["review"]["user"] = {"login": login, "id": user_id, "type": "User"}
    doc["review"]["state"] = state
    return doc


def closed_issue(reason: str | None) -> dict[str, Any]:
    """#198 closed by jpark-dev, with another state_reason."""
    doc = load("issues/closed.json")
    doc["issue"]["state_reason"] = reason
    return doc


PR_MERGED = Fact(
    kind="pr_merged", actor="github:mara-okafor", actor_email=None,
    ts=utc(2025, 3, 11, 16, 42, 7), object_id="github:pr:2398154776",
    ref=f"{BILLING}/pull/214", repo="nimbus-works/billing-api", number=214,
    author="github:mara-okafor", merged_by="github:jpark-dev", changed_lines=109,
    reverts=None, delivery_id=None, opened_at=utc(2025, 3, 10, 9, 14, 52),
    sha="e3b71f0c9d24a86b5f1e07c39a2d84b6f0c15e93",
    closes=(("nimbus-works/billing-api", 198),))  # "Closes #198"
REVIEW_REF = f"{BILLING}/pull/214#pullrequestreview-2671049338"


def review_facts(actor: str = "github:jpark-dev") -> tuple[Fact, Fact]:
    """The review and approval facts of a review of #214 by `actor`."""
    common = {"actor": actor, "actor_email": None, "ts": utc(2025, 3, 11, 14, 3, 29),
              "ref": REVIEW_REF, "repo": "nimbus-works/billing-api", "number": 214,
              "author": "github:mara-okafor", "opened_at": utc(2025, 3, 10, 9, 14, 52)}
    return (Fact(kind="review", object_id="github:review:2671049338", **common),
            Fact(kind="approval", object_id="github:pr:2398154776", **common))


def test_github_pr_closed_without_merge_is_nothing() -> None:
    doc = load("pull_request/closed.json")
    assert doc["pull_request"]["merged"] is False and doc["action"] == "closed"
    assert github_facts("pull_request", raw(doc)) == []


def test_github_merged_pr_fact() -> None:
    assert github_facts("pull_request", raw(merged_pr())) == [PR_MERGED]


def test_github_merged_revert_pr_names_what_it_reverts() -> None:
    doc = merged_pr()
    doc["pull_request"]["title"] = 'Revert "Pool ledger connections per worker"'
    doc["pull_request"]["body"] = "Reverts Nimbus-Works/billing-api#209"
    doc["pull_request"]["additions"], doc["pull_request"]["deletions"] = 0, 37
    [fact] = github_facts("pull_request", raw(doc))
    assert (fact.reverts, fact.changed_lines) == (("nimbus-works/billing-api", 209), 37)


def test_github_merged_pr_with_null_merged_by_and_no_counts() -> None:
    doc = merged_pr()
    doc["pull_request"]["merged_by"] = None
    del doc["pull_request"]["additions"]
    [fact] = github_facts("pull_request", raw(doc))
    assert (fact.merged_by, fact.changed_lines) == (None, None)


def test_github_merged_pr_repository_falls_back_to_the_base_repo() -> None:
    doc = merged_pr()
    del doc["repository"]
    assert github_facts("pull_request", raw(doc)) == [PR_MERGED]
    del doc["pull_request"]["base"]
    assert "repository.full_name" in refused(400, github_facts, "pull_request",
                                             raw(doc)).message


def test_github_approval_payload_gives_review_and_approval() -> None:
    assert github_facts("pull_request_review",
                        raw(load("pull_request_review/submitted.json"))) == list(review_facts())


def test_github_self_review_is_nothing() -> None:
    doc = load("pull_request_review/submitted.json")
    doc["review"]["user"] = copy.deepcopy(doc["pull_request"]["user"])  # Mara-Okafor
    assert github_facts("pull_request_review", raw(doc)) == []


def test_github_self_approval_by_id_is_nothing_whatever_the_login_case() -> None:
    doc = reviewed("MARA-OKAFOR", 48213307, "approved")
    assert github_facts("pull_request_review", raw(doc)) == []


def test_github_self_review_without_ids_is_matched_by_login() -> None:
    doc = reviewed("mara-okafor", 0, "commented")
    del doc["review"]["user"]["id"]
    assert github_facts("pull_request_review", raw(doc)) == []


def test_github_review_by_someone_else() -> None:
    doc = reviewed("Hubot", 2, "commented")
    review, _ = review_facts("github:hubot")
    assert github_facts("pull_request_review", raw(doc)) == [review]


@pytest.mark.parametrize("state", ["approved", "APPROVED", "Approved"])
def test_github_approval_gives_review_and_approval(state: str) -> None:
    assert github_facts("pull_request_review", raw(reviewed("hubot", 2, state))) == list(
        review_facts("github:hubot"))


def test_github_deployment_status_payload() -> None:
    assert github_facts("deployment_status", raw(load("deployment_status/success.json"))) == [
        Fact(kind="deploy", actor="github:tlindqvist", actor_email=None,
             ts=utc(2025, 3, 11, 17, 5, 40), object_id="github:deployment_status:2407318865",
             ref=f"{BILLING}/actions/runs/13794201555/job/38581230077",
             repo="nimbus-works/billing-api", sha="e3b71f0c9d24a86b5f1e07c39a2d84b6f0c15e93",
             environment="production", production=True)]


def test_github_deployment_status_ref_is_the_log_then_the_target_then_the_environment() -> None:
    doc = load("deployment_status/success.json")
    status = doc["deployment_status"]
    status["target_url"] = "https://ci.nimbus-works.example/deploys/88"
    assert github_facts("deployment_status", raw(doc))[0].ref == status["log_url"]
    del status["log_url"]
    assert github_facts("deployment_status", raw(doc))[0].ref == status["target_url"]
    status["target_url"] = ""
    assert github_facts("deployment_status", raw(doc))[0].ref == (
        "https://billing.nimbus-works.example")
    del status["environment_url"]
    assert github_facts("deployment_status", raw(doc))[0].ref is None


def test_github_issue_closed_as_completed_is_a_ticket_for_the_closer() -> None:
    assert github_facts("issues", raw(load("issues/closed.json"))) == [Fact(
        kind="ticket_resolved", actor="github:jpark-dev", actor_email=None,
        ts=utc(2025, 3, 12, 10, 27, 15), object_id="github:issue:2891573406",
        ref=f"{BILLING}/issues/198", repo="nimbus-works/billing-api", number=198,
        opened_at=utc(2025, 3, 7, 10, 48, 31), opener="github:mara-okafor")]


@pytest.mark.parametrize("reason", ["not_planned", "reopened", None])
def test_github_issue_closed_otherwise_is_nothing(reason: str | None) -> None:
    assert github_facts("issues", raw(closed_issue(reason))) == []


def test_github_ping_and_ignored_events_are_nothing() -> None:
    assert github_facts("ping", raw(load("ping.json"))) == []
    assert github_facts("push", raw(load("push.json"))) == []
    assert github_facts("deployment", raw(load("deployment/created.json"))) == []
    labeled = load("pull_request/closed.json")
    labeled["action"] = "labeled"
    assert github_facts("pull_request", raw(labeled)) == []
    edited = merged_pr()
    edited["action"] = "edited"  # a merged PR edited afterwards is not merged again
    assert github_facts("pull_request", raw(edited)) == []
    dismissed = load("pull_request_review/submitted.json")
    dismissed["action"] = "dismissed"
    assert github_facts("pull_request_review", raw(dismissed)) == []
    pending = load("deployment_status/success.json")
    pending["deployment_status"]["state"] = "pending"
    assert github_facts("deployment_status", raw(pending)) == []
    opened_issue = load("issues/closed.json")
    opened_issue["action"] = "opened"
    assert github_facts("issues", raw(opened_issue)) == []
    assert github_facts("unknown_event", raw({})) == []


# ---------------------------------------------------------------------------------------
# GitHub: octokit/webhooks' examples (MIT), in ../shared/fixtures/github

OCTOKIT_TWINS = [  # octokit's example, the suite's payload of the same event and action
    ("pull_request/closed.payload.json", "pull_request/closed.json"),
    ("pull_request/closed.payload.json", "pull_request/merged.json"),
    ("pull_request_review/submitted.payload.json", "pull_request_review/submitted.json"),
    ("deployment_status/payload.json", "deployment_status/success.json"),
]


@pytest.mark.reference
@pytest.mark.parametrize(("example", "ours"), OCTOKIT_TWINS, ids=[o for _, o in OCTOKIT_TWINS])
def test_reference_our_github_payloads_have_octokits_shape(example: str, ours: str) -> None:
    """Every key octokit's example has on an object, ours has too, with the same JSON type:
    the suite's payloads stay what GitHub sends."""
    assert shape_differences(octokit(example), load(ours)) == []


def octokit_merged_pr() -> dict[str, Any]:
    """octokit's closed.payload.json (closed without merging), changed into a merge by
    octocat (octokit has no merged example)."""
    doc = octokit("pull_request/closed.payload.json")
    pr = doc["pull_request"]
    pr["merged"] = True
    pr["merged_at"] = "2019-05-15T15:21:18Z"
    pr["merged_by"] = {"login": "octocat", "id": 583231, "type": "User"}
    return doc


@pytest.mark.reference
def test_reference_octokit_pull_requests() -> None:
    assert github_facts("pull_request",
                        raw(octokit("pull_request/closed.payload.json"))) == []
    assert github_facts("pull_request", raw(octokit_merged_pr())) == [Fact(
        kind="pr_merged", actor="github:codertocat", actor_email=None,
        ts=utc(2019, 5, 15, 15, 21, 18), object_id="github:pr:279147437",
        ref="https://github.com/Codertocat/Hello-World/pull/2",
        repo="codertocat/hello-world", number=2, author="github:codertocat",
        merged_by="github:octocat", changed_lines=2, reverts=None, delivery_id=None,
        opened_at=utc(2019, 5, 15, 15, 20, 33), sha="c4295bd74fb0f4fda03689c3df3f2803b658fd85",
        closes=())]


@pytest.mark.reference
def test_reference_octokit_reviews() -> None:
    # The example's reviewer is the PR's author (Codertocat reviews their own PR #2).
    example = octokit("pull_request_review/submitted.payload.json")
    assert github_facts("pull_request_review", raw(example)) == []
    example["review"]["user"] = {"login": "Hubot", "id": 2, "type": "User"}
    example["review"]["state"] = "approved"
    common = {"actor": "github:hubot", "actor_email": None, "ts": utc(2019, 5, 15, 15, 20, 38),
              "ref": "https://github.com/Codertocat/Hello-World/pull/2"
                     "#pullrequestreview-237895671",
              "repo": "codertocat/hello-world", "number": 2, "author": "github:codertocat",
              "opened_at": utc(2019, 5, 15, 15, 20, 33)}
    assert github_facts("pull_request_review", raw(example)) == [
        Fact(kind="review", object_id="github:review:237895671", **common),
        Fact(kind="approval", object_id="github:pr:279147437", **common)]


@pytest.mark.reference
def test_reference_octokit_deployment_status() -> None:
    example = octokit("deployment_status/payload.json")
    assert github_facts("deployment_status", raw(example)) == [
        Fact(kind="deploy", actor="github:codertocat", actor_email=None,
             ts=utc(2019, 5, 15, 15, 20, 55), object_id="github:deployment_status:209916254",
             ref=None, repo="codertocat/hello-world",
             sha="f95f852bd8fca8fcc58a9a2d6c842781e32a215e", environment="production")]
    example["deployment_status"]["log_url"] = "https://github.com/Codertocat/Hello-World/actions/1"
    [fact] = github_facts("deployment_status", raw(example))
    assert fact.ref == "https://github.com/Codertocat/Hello-World/actions/1"


@pytest.mark.parametrize("body", [b"", b"not json", b"[1, 2]", b'"text"', b"null",
                                  b"\xff\xfe{}", b"{" * 100_000, "{}".encode("utf-16")])
def test_github_unparsable_bodies_are_400(body: bytes) -> None:
    refused(400, github_facts, "pull_request", body)
    refused(400, github_facts, "ping", body)  # the body is checked whatever the event


@pytest.mark.parametrize(("change", "field"), [
    (lambda pr: pr.pop("merged_at"), "pull_request.merged_at"),
    (lambda pr: pr.update(merged_at="2019-05-15 15:21:18"), "pull_request.merged_at"),
    (lambda pr: pr.update(merged_at="yesterday"), "pull_request.merged_at"),
    (lambda pr: pr["user"].pop("login"), "pull_request.user.login"),
    (lambda pr: pr["user"].update(login="two words"), "pull_request.user.login"),
    (lambda pr: pr.update(id="2398154776"), "pull_request.id"),
    (lambda pr: pr.update(number=True), "pull_request.number"),
    (lambda pr: pr["merged_by"].pop("login"), "pull_request.merged_by.login"),
])
def test_github_merged_pr_missing_fields_are_400_naming_them(change: Any, field: str) -> None:
    doc = merged_pr()
    change(doc["pull_request"])
    assert field in refused(400, github_facts, "pull_request", raw(doc)).message


def test_github_review_missing_fields_are_400_naming_them() -> None:
    doc = load("pull_request_review/submitted.json")
    del doc["review"]["submitted_at"]
    assert "review.submitted_at" in refused(400, github_facts, "pull_request_review",
                                            raw(doc)).message
    doc = load("pull_request_review/submitted.json")
    del doc["pull_request"]
    assert "pull_request" in refused(400, github_facts, "pull_request_review",
                                     raw(doc)).message


# ---------------------------------------------------------------------------------------
# GitHub: what a merged PR reverts

REPO = "acme/api"


@pytest.mark.parametrize(("title", "body", "expected"), [
    # exactly what GitHub's Revert button writes
    ('Revert "Add the login page"', "Reverts acme/api#12", ("acme/api", 12)),
    ('Revert "Add the login page"', "Reverts Acme/API#12", ("acme/api", 12)),
    # the explicit form whatever the title, in other spellings
    ("Roll back login", "Reverts #12", ("acme/api", 12)),
    ("Roll back login", "This reverts acme/web#7 because it broke prod", ("acme/web", 7)),
    ("Roll back login", "reverts: [acme/api#12](https://github.com/acme/api/pull/12)",
     ("acme/api", 12)),
    ("Roll back login", "Revert PR #12", ("acme/api", 12)),
    ("Roll back login", "Reverts https://github.com/Acme/API/pull/31", ("acme/api", 31)),
    ("Roll back login", "Context first.\n\nReverts acme/api#12\r\n", ("acme/api", 12)),
    # GitHub's title with the body naming the PR in the same repo
    ('Revert "Add the login page"', "Undoes #41: it broke sign-in", ("acme/api", 41)),
    ('revert "Add the login page"', "see acme/lib#9", ("acme/lib", 9)),
    ('Revert “Add the login page”', "Breaks #5, see also #6", ("acme/api", 5)),
    ('Revert "Revert "Add the login page""', "Reverts acme/api#13", ("acme/api", 13)),
    ('Revert "Add it"', "https://github.com/acme/api/pull/8 broke it", ("acme/api", 8)),
    # not reverts
    ("Add the login page", "Fixes #12", None),
    ("Add the login page", "Reverted #12 last week, this adds it back properly", None),
    ("Add the login page", None, None),
    ('Revert "Add the login page"', "This reverts commit 1a2b3c4d5e6f.", None),
    ('Revert "Add the login page"', None, None),
    ('Revert "Add the login page"', "Reverts acme/api#0", None),
    ('Revert "Add the login page"', "Reverts #99", None),  # itself
    ('Revert "Add the login page"', "it&#39;s broken ##12 abc#3", None),
    ("Reverting the revert", "No issue here", None),
])
def test_github_revert_variants(title: str | None, body: str | None,
                                expected: tuple[str, int] | None) -> None:
    assert github_reverts(title, body, REPO, 99) == expected


# ---------------------------------------------------------------------------------------
# GitLab

def test_gitlab_token() -> None:
    gitlab_verify("gl-token-1", "gl-token-1")
    for wrong in ("gl-token-2", "gl-token-1 ", "", None, "gl-tökén-1"):
        refused(401, gitlab_verify, "gl-token-1", wrong)
    refused(401, gitlab_verify, "", "")


def gitlab_mr(action: str, user_id: int = 51, username: str = "Ana",
              email: str = "ana@example.com") -> dict[str, Any]:
    """A "Merge Request Hook" body shaped as GitLab's documented example."""
    return {
        "object_kind": "merge_request",
        "event_type": "merge_request",
        "user": {"id": user_id, "name": "Ana Lima", "username": username, "email": email},
        "project": {"id": 1, "path_with_namespace": "GitlabHQ/gitlab-test",
                    "web_url": "http://example.com/gitlabhq/gitlab-test"},
        "object_attributes": {
            "id": 99, "iid": 1, "author_id": 51, "target_project_id": 14,
            "title": "MS-Viewport", "description": "", "state": "merged",
            "created_at": "2013-12-03 17:15:43 UTC", "updated_at": "2013-12-04 09:30:00 UTC",
            "url": "http://example.com/gitlabhq/gitlab-test/-/merge_requests/1",
            "action": action,
        },
        "labels": [], "changes": {}, "repository": {"name": "Gitlab Test"},
    }


def test_gitlab_merge_by_the_author() -> None:
    assert gitlab_facts("Merge Request Hook", raw(gitlab_mr("merge"))) == [Fact(
        kind="pr_merged", actor="gitlab:ana", actor_email="ana@example.com",
        ts=utc(2013, 12, 4, 9, 30), object_id="gitlab:mr:99",
        ref="http://example.com/gitlabhq/gitlab-test/-/merge_requests/1",
        repo="gitlabhq/gitlab-test", number=1, author="gitlab:ana", merged_by="gitlab:ana",
        changed_lines=None, reverts=None)]


def test_gitlab_merge_by_someone_else_names_the_author_by_id() -> None:
    doc = gitlab_mr("merge", user_id=1, username="root", email="[REDACTED]")
    doc["object_attributes"]["updated_at"] = "2013-12-04T09:30:00.123Z"
    assert gitlab_facts("Merge Request Hook", raw(doc)) == [Fact(
        kind="pr_merged", actor="gitlab-id:51", actor_email=None,
        ts=datetime(2013, 12, 4, 9, 30, 0, 123000, tzinfo=UTC), object_id="gitlab:mr:99",
        ref="http://example.com/gitlabhq/gitlab-test/-/merge_requests/1",
        repo="gitlabhq/gitlab-test", number=1, author="gitlab-id:51",
        merged_by="gitlab:root", changed_lines=None, reverts=None)]


def test_gitlab_revert_mr() -> None:
    doc = gitlab_mr("merge")
    doc["object_attributes"]["title"] = 'Revert "Add the login page"'
    doc["object_attributes"]["description"] = "This reverts merge request !7"
    [fact] = gitlab_facts("Merge Request Hook", raw(doc))
    assert fact.reverts == ("gitlabhq/gitlab-test", 7)


def test_gitlab_approval_by_another_user() -> None:
    doc = gitlab_mr("approval", user_id=6, username="user1", email="")
    assert gitlab_facts("Merge Request Hook", raw(doc)) == [Fact(
        kind="approval", actor="gitlab:user1", actor_email=None,
        ts=utc(2013, 12, 4, 9, 30), object_id="gitlab:mr:99",
        ref="http://example.com/gitlabhq/gitlab-test/-/merge_requests/1",
        repo="gitlabhq/gitlab-test", number=1, author="gitlab-id:51")]
    assert len(gitlab_facts("Merge Request Hook",
                            raw(gitlab_mr("approved", user_id=6, username="user1")))) == 1


def test_gitlab_self_approval_and_other_actions_are_nothing() -> None:
    assert gitlab_facts("Merge Request Hook", raw(gitlab_mr("approval"))) == []
    for action in ("open", "update", "close", "reopen", "unapproved", "unapproval"):
        assert gitlab_facts("Merge Request Hook", raw(gitlab_mr(action))) == []
    assert gitlab_facts("Push Hook", raw({"object_kind": "push", "commits": []})) == []
    assert gitlab_facts("System Hook", raw(gitlab_mr("merge"))) == []


def gitlab_deployment(status: str) -> dict[str, Any]:
    """A "Deployment Hook" body shaped as GitLab's documented example."""
    return {
        "object_kind": "deployment", "status": status,
        "status_changed_at": "2021-04-28 21:50:00 +0200",
        "deployment_id": 15, "deployable_id": 796,
        "deployable_url": "http://10.126.0.2:3000/root/test-deployment-webhooks/-/jobs/796",
        "environment": "staging", "environment_tier": "staging",
        "project": {"id": 30, "path_with_namespace": "root/test-deployment-webhooks"},
        "short_sha": "279484c0",
        "user": {"id": 1, "name": "Administrator", "username": "root",
                 "email": "admin@example.com"},
        "commit_url": "http://10.126.0.2:3000/root/test-deployment-webhooks/-/commit/279484c0",
    }


def test_gitlab_successful_deployment() -> None:
    assert gitlab_facts("Deployment Hook", raw(gitlab_deployment("success"))) == [Fact(
        kind="deploy", actor="gitlab:root", actor_email="admin@example.com",
        ts=utc(2021, 4, 28, 19, 50), object_id="gitlab:deployment:15",
        ref="http://10.126.0.2:3000/root/test-deployment-webhooks/-/jobs/796",
        repo="root/test-deployment-webhooks", sha="279484c0", environment="staging",
        production=False)]


def test_gitlab_failed_deployment_is_remembered_as_failed() -> None:
    [fact] = gitlab_facts("Deployment Hook", raw(gitlab_deployment("failed")))
    assert (fact.kind, fact.repo, fact.sha) == ("deploy_failed",
                                                "root/test-deployment-webhooks", "279484c0")


@pytest.mark.parametrize("status", ["running", "canceled", "created"])
def test_gitlab_other_deployment_statuses_are_nothing(status: str) -> None:
    assert gitlab_facts("Deployment Hook", raw(gitlab_deployment(status))) == []


def test_gitlab_missing_fields_are_400_naming_them() -> None:
    doc = gitlab_mr("merge")
    del doc["object_attributes"]["author_id"]
    assert "object_attributes.author_id" in refused(
        400, gitlab_facts, "Merge Request Hook", raw(doc)).message
    doc = gitlab_deployment("success")
    del doc["user"]["username"]
    assert "user.username" in refused(400, gitlab_facts, "Deployment Hook", raw(doc)).message
    refused(400, gitlab_facts, "Merge Request Hook", b"[]")


@pytest.mark.parametrize(("title", "description", "expected"), [
    ('Revert "Add the login page"', "This reverts merge request !7", ("gitlab-org/api", 7)),
    ("Roll back", "This reverts merge request gitlab-org/sub/web!3", ("gitlab-org/sub/web", 3)),
    ("Roll back", "Reverts https://gitlab.com/Gitlab-Org/API/-/merge_requests/21",
     ("gitlab-org/api", 21)),
    ('Revert "Add the login page"', "Broke prod, see !4", ("gitlab-org/api", 4)),
    ('Revert "Add the login page"', "This reverts commit 1a2b3c4d", None),
    ("Add the login page", "Closes #4 and depends on !5", None),
    ('Revert "Add the login page"', "This reverts merge request !2", None),  # itself
])
def test_gitlab_revert_variants(title: str, description: str,
                                expected: tuple[str, int] | None) -> None:
    assert gitlab_reverts(title, description, "Gitlab-Org/API", 2) == expected


# ---------------------------------------------------------------------------------------
# PagerDuty

PD_BODY = b'{"event":{"id":"01DEN3QB6VQZ2VAGVB4QBG4BWS","event_type":"incident.resolved"}}'
PD_NEW = "v1=8ebb2de630a9311e0ba4c252399cd81fe5423138fffe789a91135dd60a9f60a2"  # pd-secret-new
PD_OLD = "v1=5066c49e19662483d5cca7a68ea2344c6e301347b0c2f4b5df18704862d8dd7b"  # pd-secret-old


def test_pagerduty_signature_and_rotation() -> None:
    pagerduty_verify("pd-secret-new", PD_BODY, PD_NEW)
    pagerduty_verify("pd-secret-old", PD_BODY, PD_OLD)
    # while a secret rotates, both signatures are sent: either secret accepts the delivery
    for header in (f"{PD_NEW},{PD_OLD}", f"{PD_OLD},{PD_NEW}", f"{PD_OLD}, {PD_NEW}",
                   f"v2=abc,{PD_NEW}", PD_NEW.upper().replace("V1=", "v1=")):
        pagerduty_verify("pd-secret-new", PD_BODY, header)
    pagerduty_verify("pd-secret-old", PD_BODY, f"{PD_NEW},{PD_OLD}")


@pytest.mark.parametrize(("secret", "body", "header"), [
    ("pd-secret-new", PD_BODY, PD_OLD),  # only the other secret's signature
    ("pd-secret-other", PD_BODY, f"{PD_NEW},{PD_OLD}"),
    ("pd-secret-new", PD_BODY + b" ", PD_NEW),  # body changed
    ("pd-secret-new", PD_BODY, PD_NEW.replace("v1=", "v0=")),  # not v1
    ("pd-secret-new", PD_BODY, PD_NEW[len("v1="):]),  # no version
    ("pd-secret-new", PD_BODY, "v1=" + "0" * 64),
    ("pd-secret-new", PD_BODY, "v1=ünïcødé," + "v1=" + "f" * 64),
    ("pd-secret-new", PD_BODY, ","),
    ("pd-secret-new", PD_BODY, ""),
    ("pd-secret-new", PD_BODY, None),
    ("", PD_BODY, PD_NEW),
    ("pd-secret-new", PD_BODY, ",".join(["v1=00"] * 16 + [PD_NEW])),  # too many entries
])
def test_pagerduty_wrong_signatures_are_401(secret: str, body: bytes,
                                            header: str | None) -> None:
    refused(401, pagerduty_verify, secret, body, header)


def pd_event(event_type: str, agent: dict[str, Any] | None) -> dict[str, Any]:
    """A v3 webhook body shaped as PagerDuty's documented example."""
    return {"event": {
        "id": "5ac64822-4adc-4fda-ade0-410becf0de4f",
        "event_type": event_type,
        "resource_type": "incident",
        "occurred_at": "2020-10-02T18:45:22.169Z",
        "agent": agent,
        "client": {"name": "PagerDuty"},
        "data": {"id": "PGR0VU2", "type": "incident",
                 "self": "https://api.pagerduty.com/incidents/PGR0VU2",
                 "html_url": "https://acme.pagerduty.com/incidents/PGR0VU2",
                 "number": 2, "status": "resolved", "title": "A little bump in the road"},
    }}


USER_AGENT = {"html_url": "https://acme.pagerduty.com/users/PLH1HKV", "id": "PLH1HKV",
              "self": "https://api.pagerduty.com/users/PLH1HKV", "summary": "Tenex Engineer",
              "type": "user_reference"}


def test_pagerduty_incident_resolved_by_a_user() -> None:
    body = raw(pd_event("incident.resolved", USER_AGENT))
    assert pagerduty_facts(body) == [Fact(
        kind="incident_resolved", actor="pagerduty:PLH1HKV", actor_email=None,
        ts=datetime(2020, 10, 2, 18, 45, 22, 169000, tzinfo=UTC),
        object_id="pagerduty:incident:PGR0VU2",
        ref="https://acme.pagerduty.com/incidents/PGR0VU2",
        delivery_id="5ac64822-4adc-4fda-ade0-410becf0de4f")]
    assert pagerduty_event_id(body) == "5ac64822-4adc-4fda-ade0-410becf0de4f"


def test_pagerduty_nothing_to_credit() -> None:
    service = {"id": "PF9KMXH", "type": "service_reference", "summary": "API Service"}
    assert pagerduty_facts(raw(pd_event("incident.resolved", None))) == []
    assert pagerduty_facts(raw(pd_event("incident.resolved", service))) == []
    for other in ("incident.acknowledged", "incident.reopened", "service.updated",
                  "pagey.ping"):
        assert pagerduty_facts(raw(pd_event(other, USER_AGENT))) == []
    assert pagerduty_event_id(raw({"event": {"event_type": "pagey.ping"}})) is None


def test_pagerduty_missing_fields_are_400_naming_them() -> None:
    for path in ("data.id", "occurred_at", "id"):
        doc = pd_event("incident.resolved", USER_AGENT)
        *parents, leaf = path.split(".")
        target = doc["event"]
        for key in parents:
            target = target[key]
        del target[leaf]
        assert f"event.{path}" in refused(400, pagerduty_facts, raw(doc)).message
    doc = pd_event("incident.resolved", USER_AGENT)
    doc["event"]["data"]["id"] = "PGR 0VU2"
    assert "event.data.id" in refused(400, pagerduty_facts, raw(doc)).message
    refused(400, pagerduty_facts, b"\x00")
    refused(400, pagerduty_event_id, b"[]")


# ---------------------------------------------------------------------------------------
# Timestamps

@pytest.mark.parametrize(("text", "expected"), [
    ("2019-05-15T15:20:33Z", utc(2019, 5, 15, 15, 20, 33)),
    ("2019-05-15T15:20:33z", utc(2019, 5, 15, 15, 20, 33)),
    ("2019-05-15T17:20:33+02:00", utc(2019, 5, 15, 15, 20, 33)),
    ("2019-05-15T10:20:33-0500", utc(2019, 5, 15, 15, 20, 33)),
    ("2019-05-15 15:20:33 UTC", utc(2019, 5, 15, 15, 20, 33)),
    ("2021-04-28 21:50:00 +0200", utc(2021, 4, 28, 19, 50)),
    ("2020-10-02T18:45:22.169Z", datetime(2020, 10, 2, 18, 45, 22, 169000, tzinfo=UTC)),
    ("2021-02-23T02:41:37.886123456Z", datetime(2021, 2, 23, 2, 41, 37, 886123, tzinfo=UTC)),
    ("2019-05-16T00:20:33+09", utc(2019, 5, 15, 15, 20, 33)),
])
def test_timestamps(text: str, expected: datetime) -> None:
    when = timestamp({"t": text}, "t")
    assert when == expected and when.tzinfo is UTC


@pytest.mark.parametrize("text", ["2019-05-15T15:20:33", "2019-05-15", "1557933633",
                                  "2019-02-30T00:00:00Z", "2019-05-15T15:20:33+25:00",
                                  "2019-05-15T24:00:00Z", "", 1557933633, None])
def test_bad_timestamps_are_400(text: Any) -> None:
    refused(400, timestamp, {"t": text}, "t")


# ---------------------------------------------------------------------------------------
# Fuzz: arbitrary JSON only ever gives facts or WebhookError

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=30)


def key_paths(doc: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every path to a key of every object in `doc`."""
    out: list[tuple[str, ...]] = []
    if isinstance(doc, dict):
        for key, value in doc.items():
            out.append((*prefix, key))
            out.extend(key_paths(value, (*prefix, key)))
    return out


EVENTS = [
    ("github", "pull_request", load("pull_request/merged.json")),
    ("github", "pull_request_review", load("pull_request_review/submitted.json")),
    ("github", "deployment_status", load("deployment_status/success.json")),
    ("github", "issues", load("issues/closed.json")),
    ("gitlab", "Merge Request Hook", gitlab_mr("merge", user_id=6, username="user1")),
    ("gitlab", "Merge Request Hook", gitlab_mr("approval", user_id=6, username="user1")),
    ("gitlab", "Deployment Hook", gitlab_deployment("success")),
    ("pagerduty", "", pd_event("incident.resolved", USER_AGENT)),
]


def facts_of(source: str, event: str, body: bytes) -> list[Fact]:
    if source == "github":
        return github_facts(event, body)
    if source == "gitlab":
        return gitlab_facts(event, body)
    return pagerduty_facts(body)


def only_facts_or_webhook_errors(source: str, event: str, body: bytes) -> None:
    try:
        facts = facts_of(source, event, body)
    except WebhookError as exc:
        assert exc.status == 400 and exc.message
        return
    assert isinstance(facts, list)
    for fact in facts:
        assert isinstance(fact, Fact) and fact.ts.tzinfo is UTC and ":" in fact.actor


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index=st.integers(0, len(EVENTS) - 1), doc=JSON)
def test_fuzz_arbitrary_json(index: int, doc: Any) -> None:
    source, event, _template = EVENTS[index]
    only_facts_or_webhook_errors(source, event, json.dumps(doc).encode())


@settings(max_examples=400, deadline=None)
@given(data=st.data(), index=st.integers(0, len(EVENTS) - 1))
def test_fuzz_counted_events_with_fields_broken(data: st.DataObject, index: int) -> None:
    """A counted event with one to three fields deleted or replaced by arbitrary JSON, so
    the fuzzing reaches past the first checks of each event."""
    source, event, template = EVENTS[index]
    doc = copy.deepcopy(template)
    paths = key_paths(doc)
    for _ in range(data.draw(st.integers(1, 3))):
        *parents, leaf = data.draw(st.sampled_from(paths))
        target: Any = doc
        for key in parents:
            target = target.get(key) if isinstance(target, dict) else None
        if isinstance(target, dict) and leaf in target:
            if data.draw(st.booleans()):
                del target[leaf]
            else:
                target[leaf] = data.draw(JSON)
    only_facts_or_webhook_errors(source, event, json.dumps(doc).encode())


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=64), event=st.sampled_from(
    ["pull_request", "issues", "Merge Request Hook", "Deployment Hook", "ping"]))
def test_fuzz_arbitrary_bytes(body: bytes, event: str) -> None:
    for source in ("github", "gitlab", "pagerduty"):
        only_facts_or_webhook_errors(source, event, body)
