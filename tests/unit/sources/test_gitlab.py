"""GitLab's wire format (bot/sources/gitlab.py): token, merge requests, approvals,
deployments, reverts; pure. Every expected value is written out by hand; signature
vectors were computed with `openssl dgst -sha256 -hmac`. Payloads:
tests/unit/sources/webhook_payloads.py.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.sources.gitlab import gitlab_facts, gitlab_reverts, gitlab_verify
from bot.sources.webhook_facts import Fact
from tests.unit.sources.webhook_payloads import (
    gitlab_deployment,
    gitlab_mr,
    raw,
    refused,
    utc,
)

# ---------------------------------------------------------------------------------------
# GitLab

def test_gitlab_token() -> None:
    gitlab_verify("gl-token-1", "gl-token-1")
    for wrong in ("gl-token-2", "gl-token-1 ", "", None, "gl-tökén-1"):
        refused(401, gitlab_verify, "gl-token-1", wrong)
    refused(401, gitlab_verify, "", "")


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
