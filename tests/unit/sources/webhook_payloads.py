"""Webhook payloads for the wire-format tests of bot/sources (GitHub, GitLab, PagerDuty).

GitHub payloads are the suite's own (tests/payloads/github/, written from GitHub's webhook
documentation); `octokit` reads octokit/webhooks' examples from ../shared/fixtures/github
(tests/reference.py: skipped without ../shared, a failure in CI). GitLab and PagerDuty
payloads are built from their documented examples (GitLab "Webhook events", PagerDuty "V3
Webhooks").
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.sources.webhook_facts import WebhookError
from tests.reference import reference_dir
from tests.support.paths import PAYLOADS as SUITE_PAYLOADS

PAYLOADS = SUITE_PAYLOADS / "github"


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



def merged_pr() -> dict[str, Any]:
    """#214 by Mara-Okafor, merged by jpark-dev: 86 additions, 23 deletions."""
    return load("pull_request/merged.json")


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
