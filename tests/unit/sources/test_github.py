"""GitHub's wire format (bot/sources/github.py): signatures, facts, reverts; pure.

Tests marked `reference` also run octokit/webhooks' examples from ../shared and compare
our payloads' shape with them. Every expected value is written out by hand; signature
vectors were computed with `openssl dgst -sha256 -hmac`. Payloads:
tests/unit/sources/webhook_payloads.py.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from bot.sources.github import github_facts, github_reverts, github_verify
from bot.sources.webhook_facts import Fact
from tests.reference import shape_differences
from tests.unit.sources.webhook_payloads import (
    load,
    merged_pr,
    octokit,
    raw,
    refused,
    utc,
)

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


def test_github_documented_test_vector() -> None:
    from bot.sources.github import github_verify

    github_verify("It's a Secret to Everybody", b"Hello, World!",
                  "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")
