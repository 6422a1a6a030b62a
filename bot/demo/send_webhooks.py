"""The demo's webhook leg: some of the org's merged pull requests, reviews and deploys
arrive as GitHub would send them: signed `pull_request`, `pull_request_review` and
`deployment_status` deliveries to the real `/webhooks/github` of a local tokenboard."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import urllib.request
import uuid
from dataclasses import replace
from datetime import datetime
from typing import Any

from bot.runtime.deps import Deps
from bot.sources.reports import parse_ts
from bot.web.app import build_web_app
from bot.web.server import Server

KINDS = ("pr_merged", "review", "deploy")
REPO = "demo-org/api"


def split_for_webhooks(events: list[dict[str, Any]], people: list[str], every: int,
                       offset: int, since: datetime) -> tuple[list[dict], list[dict]]:
    """(the rest, the pull requests, reviews and deploys of every `every`-th person
    (from `offset`) since `since`)."""
    chosen = set(sorted(people)[offset::every])
    hooks, rest = [], []
    for event in events:
        if (event["type"] == "outcome" and event["kind"] in KINDS
                and event.get("user") in chosen and parse_ts(event["ts"]) >= since):
            hooks.append(event)
        else:
            rest.append(event)
    return rest, hooks


def _user(login: str) -> dict:
    return {"login": login, "id": int(hashlib.sha256(login.encode()).hexdigest()[:8], 16),
            "type": "User"}


def _payload(event: dict[str, Any], n: int, login: str, other: str) -> tuple[str, dict]:
    """(X-GitHub-Event, payload) for one demo outcome."""
    when = parse_ts(event["ts"]).strftime("%Y-%m-%dT%H:%M:%SZ")
    repo = {"full_name": REPO, "name": "api", "owner": _user("demo-org")}
    pr = {"id": 900_000 + n, "number": n, "title": f"Change {n}", "body": "",
          "html_url": f"https://github.com/{REPO}/pull/{n}", "merged": True,
          "merged_at": when, "additions": 120, "deletions": 30}
    if event["kind"] == "pr_merged":
        return "pull_request", {"action": "closed", "repository": repo, "pull_request": {
            **pr, "user": _user(login), "merged_by": _user(other)}, "sender": _user(other)}
    if event["kind"] == "review":
        return "pull_request_review", {"action": "submitted", "repository": repo,
                                       "pull_request": {**pr, "user": _user(other)},
                                       "review": {"id": 700_000 + n, "state": "approved",
                                                  "submitted_at": when, "user": _user(login)}}
    return "deployment_status", {"action": "created", "repository": repo,
                                 "deployment": {"id": 500_000 + n, "creator": _user(login)},
                                 "deployment_status": {"id": 600_000 + n, "state": "success",
                                                       "created_at": when}}


def send_as_github_webhooks(deps: Deps, events: list[dict[str, Any]], logins: dict[str, str]
                            ) -> dict[str, int]:
    """Deliver each event as a signed GitHub webhook; how many of each kind were counted."""
    secret = secrets.token_hex(16)
    deps.settings = replace(deps.settings, github_webhook_secret=secret)
    for user, login in logins.items():
        deps.identities.link(user, f"github:{login}")
    server = Server(build_web_app(deps, None)).start()
    counted = dict.fromkeys(KINDS, 0)
    others = sorted(logins.values())
    try:
        for n, event in enumerate(events, start=1):
            login = logins[event["user"]]
            other = next(o for o in others[n % len(others):] + others if o != login)
            kind, payload = _payload(event, n, login, other)
            body = json.dumps(payload).encode()
            signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            request = urllib.request.Request(server.url + "/webhooks/github", data=body, headers={
                "Content-Type": "application/json", "X-GitHub-Event": kind,
                "X-GitHub-Delivery": str(uuid.uuid4()), "X-Hub-Signature-256": signature})
            with urllib.request.urlopen(request, timeout=10) as answer:
                counted[event["kind"]] += json.loads(answer.read())["counted"]
    finally:
        server.stop()
    return counted
