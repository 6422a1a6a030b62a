"""GitHub deliveries built from the suite's own payloads (tests/payloads/github): a
merged pull request by an author, and the webhooks' secrets."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

from tests.support import paths

PAYLOADS = paths.PAYLOADS / "github"
GH_SECRET, GL_TOKEN, PD_SECRET = "gh-secret", "gl-token", "pd-secret"
NOW = datetime.now(UTC) - timedelta(minutes=5)


def iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def payload(name: str) -> dict:
    """One of the suite's own GitHub payloads (a fresh copy each time)."""
    return json.loads((PAYLOADS / name).read_text())


def user(login: str) -> dict:
    return {"login": login, "id": int(hashlib.sha1(login.encode()).hexdigest()[:8], 16),
            "type": "User"}


def merged_pr(pr_id: int, number: int, author: str, merged_by: str, lines: int = 40,
              when: datetime = NOW, title: str = "Add a feature", body: str = "") -> dict:
    doc = payload("pull_request/merged.json")
    pr = doc["pull_request"]
    pr.update(id=pr_id, number=number, merged=True, merged_at=iso(when), closed_at=iso(when),
              additions=lines - lines // 4, deletions=lines // 4, title=title, body=body,
              user=user(author), merged_by=user(merged_by))
    doc["repository"]["full_name"] = "acme/api"
    return doc
