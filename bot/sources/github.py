"""GitHub webhooks: verify a delivery's signature, turn its payload into `Fact`s.

Pure functions. The route passes the raw body, the `X-Hub-Signature-256` header to
`github_verify` and the `X-GitHub-Event` header to `github_facts`; dedupe on
`X-GitHub-Delivery` is the route's business (it is a header, not in the body).

Counted (everything else, `ping` included, is `[]`, never an error):

- `pull_request` closed with `merged: true` -> `pr_merged` for the PR's author, with
  author, merged_by, changed_lines (additions + deletions), reverts, the merge commit and
  the issues its description closes ("Fixes #12");
- `pull_request` opened, reopened, synchronize (a push) or ready_for_review -> `pr_pushed`
  (remembered: when it was last pushed and its size, for the review rules);
- `pull_request_review` submitted by someone other than the PR's author -> `review`, plus
  an `approval` fact when the review's state is "approved" (both with when the PR was
  opened and, when the payload has it, its size);
- `deployment_status` with state "success" -> `deploy` for the deployment's creator, with
  repository, commit, environment and whether GitHub marks it production; "failure" or
  "error" -> `deploy_failed`;
- `issues` closed with `state_reason: "completed"` -> `ticket_resolved` for the sender,
  with who opened the issue and when.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from bot.sources.webhook_facts import (
    APPROVAL,
    DEPLOY,
    DEPLOY_FAILED,
    PR_MERGED,
    PR_PUSHED,
    REVIEW,
    TICKET_RESOLVED,
    Fact,
    WebhookError,
    email_or_none,
    first_revert,
    hmac_sha256_hex,
    identity,
    lookup,
    need,
    need_int,
    need_str,
    opt_int,
    opt_str,
    parse_object,
    same,
    timestamp,
)

SIGNATURE_HEADER = "X-Hub-Signature-256"
EVENT_HEADER = "X-GitHub-Event"
DELIVERY_HEADER = "X-GitHub-Delivery"


def github_verify(secret: str, body: bytes, signature_header: str | None) -> None:
    """Check `X-Hub-Signature-256` ("sha256=" + hex HMAC-SHA256 of the raw body keyed
    with the webhook's secret) in constant time; WebhookError(401) if it is missing or
    wrong, or if no secret is configured."""
    if not secret:
        raise WebhookError(401, "no GitHub webhook secret is configured")
    if not signature_header:
        raise WebhookError(401, f"{SIGNATURE_HEADER} header is missing")
    expected = "sha256=" + hmac_sha256_hex(secret, body)
    given = signature_header.strip()
    if given[:7].lower() == "sha256=":
        given = "sha256=" + given[7:].lower()  # hex digits in either case
    if not same(expected, given):
        raise WebhookError(401, f"{SIGNATURE_HEADER} does not match the body")


def github_facts(event: str, body: bytes) -> list[Fact]:
    """The facts in one delivery. `event` is the `X-GitHub-Event` header.

    WebhookError(400) when the body is not a JSON object, or when an event we count lacks
    a field we need (the message names it). Events and actions we do not count give []."""
    doc = parse_object(body)
    handler = _HANDLERS.get(event.strip())
    return handler(doc) if handler else []


# ---------------------------------------------------------------------------------------


def _login(doc: dict[str, Any], path: str) -> str:
    """`github:<login>` (lower-cased) for the user object at `path`."""
    return identity("github", need_str(doc, f"{path}.login"), f"{path}.login")


def _repo(doc: dict[str, Any]) -> str:
    name = opt_str(doc, "repository.full_name") or opt_str(doc, "pull_request.base.repo.full_name")
    if name is None:
        raise WebhookError(400, "repository.full_name is missing")
    return name.lower()


def _opt_time(doc: dict[str, Any], path: str) -> datetime | None:
    try:
        return timestamp(doc, path) if isinstance(lookup(doc, path), str) else None
    except WebhookError:
        return None


def _lines(doc: dict[str, Any]) -> int | None:
    additions = opt_int(doc, "pull_request.additions")
    deletions = opt_int(doc, "pull_request.deletions")
    return additions + deletions if additions is not None and deletions is not None else None


_PUSHED = {"opened": "pull_request.created_at", "reopened": "pull_request.updated_at",
           "synchronize": "pull_request.updated_at",
           "ready_for_review": "pull_request.updated_at"}


def _pushed(doc: dict[str, Any], action: str) -> list[Fact]:
    when = _opt_time(doc, _PUSHED[action])
    pr_id, number = opt_int(doc, "pull_request.id"), opt_int(doc, "pull_request.number")
    if when is None or pr_id is None or number is None:
        return []
    author = _login(doc, "pull_request.user")
    return [Fact(kind=PR_PUSHED, actor=author, actor_email=None, ts=when,
                 object_id=f"github:pr:{pr_id}", ref=None, repo=_repo(doc), number=number,
                 author=author, changed_lines=_lines(doc), opened_at=when)]


def _pull_request(doc: dict[str, Any]) -> list[Fact]:
    action = lookup(doc, "action")
    if isinstance(action, str) and action in _PUSHED:
        return _pushed(doc, action)
    if action != "closed" or lookup(doc, "pull_request.merged") is not True:
        return []
    pr_id = need_int(doc, "pull_request.id")
    author = _login(doc, "pull_request.user")
    merger = (_login(doc, "pull_request.merged_by")
              if isinstance(lookup(doc, "pull_request.merged_by"), dict) else None)
    repo = _repo(doc)
    number = need_int(doc, "pull_request.number")
    lines = _lines(doc)
    body = opt_str(doc, "pull_request.body") or ""
    return [Fact(
        kind=PR_MERGED, actor=author,
        actor_email=email_or_none(lookup(doc, "pull_request.user.email")),
        ts=timestamp(doc, "pull_request.merged_at"),
        object_id=f"github:pr:{pr_id}", ref=opt_str(doc, "pull_request.html_url"),
        repo=repo, number=number, author=author, merged_by=merger, changed_lines=lines,
        reverts=github_reverts(opt_str(doc, "pull_request.title"), body, repo, number),
        opened_at=_opt_time(doc, "pull_request.created_at"),
        sha=opt_str(doc, "pull_request.merge_commit_sha"),
        closes=github_closes(body, repo))]


def _same_user(doc: dict[str, Any], a: str, b: str) -> bool:
    """Whether the user objects at paths `a` and `b` are one account (by id when both
    have one, else by login, case-insensitively)."""
    id_a, id_b = opt_int(doc, f"{a}.id"), opt_int(doc, f"{b}.id")
    if id_a is not None and id_b is not None:
        return id_a == id_b
    return _login(doc, a) == _login(doc, b)


def _pull_request_review(doc: dict[str, Any]) -> list[Fact]:
    if lookup(doc, "action") != "submitted":
        return []
    need(doc, "pull_request")
    if _same_user(doc, "review.user", "pull_request.user"):
        return []  # reviewing your own PR is not a review
    reviewer = _login(doc, "review.user")
    common = {
        "actor": reviewer,
        "actor_email": email_or_none(lookup(doc, "review.user.email")),
        "ts": timestamp(doc, "review.submitted_at"),
        "repo": _repo(doc),
        "number": need_int(doc, "pull_request.number"),
        "author": _login(doc, "pull_request.user"),
        "opened_at": _opt_time(doc, "pull_request.created_at"),
        "changed_lines": _lines(doc),
    }
    facts = [Fact(kind=REVIEW, object_id=f"github:review:{need_int(doc, 'review.id')}",
                  ref=opt_str(doc, "review.html_url"), **common)]
    state = lookup(doc, "review.state")
    if isinstance(state, str) and state.lower() == "approved":
        facts.append(Fact(kind=APPROVAL,
                          object_id=f"github:pr:{need_int(doc, 'pull_request.id')}",
                          ref=opt_str(doc, "review.html_url"), **common))
    return facts


def _deployment_status(doc: dict[str, Any]) -> list[Fact]:
    state = lookup(doc, "deployment_status.state")
    if state not in ("success", "failure", "error"):
        return []
    status_id = need_int(doc, "deployment_status.id")
    production = lookup(doc, "deployment.production_environment")
    if lookup(doc, "deployment.transient_environment") is True:
        production = False
    return [Fact(
        kind=DEPLOY if state == "success" else DEPLOY_FAILED,
        actor=_login(doc, "deployment.creator"),
        actor_email=email_or_none(lookup(doc, "deployment.creator.email")),
        ts=timestamp(doc, "deployment_status.created_at"),
        object_id=f"github:deployment_status:{status_id}",
        ref=(opt_str(doc, "deployment_status.log_url")
             or opt_str(doc, "deployment_status.target_url")
             or opt_str(doc, "deployment_status.environment_url")),
        repo=(opt_str(doc, "repository.full_name") or "").lower() or None,
        sha=opt_str(doc, "deployment.sha"),
        environment=(opt_str(doc, "deployment.environment")
                     or opt_str(doc, "deployment_status.environment")),
        production=production if isinstance(production, bool) else None)]


def _issues(doc: dict[str, Any]) -> list[Fact]:
    if lookup(doc, "action") != "closed" or lookup(doc, "issue.state_reason") != "completed":
        return []
    return [Fact(
        kind=TICKET_RESOLVED, actor=_login(doc, "sender"),
        actor_email=email_or_none(lookup(doc, "sender.email")),
        ts=timestamp(doc, "issue.closed_at"),
        object_id=f"github:issue:{need_int(doc, 'issue.id')}",
        ref=opt_str(doc, "issue.html_url"),
        repo=(opt_str(doc, "repository.full_name") or "").lower() or None,
        number=opt_int(doc, "issue.number"),
        opener=(_login(doc, "issue.user") if isinstance(lookup(doc, "issue.user"), dict)
                else None),
        opened_at=_opt_time(doc, "issue.created_at"))]


_HANDLERS = {
    "pull_request": _pull_request,
    "pull_request_review": _pull_request_review,
    "deployment_status": _deployment_status,
    "issues": _issues,
}


# ---------------------------------------------------------------------------------------
# Reverts

_NAME = r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+"
_NUM = r"\d{1,10}"
# "Reverts owner/repo#12" (what GitHub's Revert button writes), "Reverts #12",
# "reverts [owner/repo#12](…)", "Reverts PR #12", "Reverts https://github.com/o/r/pull/12".
_EXPLICIT = re.compile(
    rf"\breverts?\b[\s:]*(?:(?:pr|pull\s+request|pull)\b\s*)?[\[<(]?\s*"
    rf"(?:(?P<repo>{_NAME})?#(?P<num>{_NUM})"
    rf"|https?://[^\s/]+/(?P<urepo>{_NAME})/pull/(?P<unum>{_NUM}))(?!\w)",
    re.IGNORECASE)
# The title GitHub's Revert button writes: Revert "Original title".
_REVERT_TITLE = re.compile(r"\s*revert\b\s*[\"“”']", re.IGNORECASE)
# Any reference in the body: "#12", "owner/repo#12", or a pull request URL.
_REFERENCE = re.compile(
    rf"(?<![\w/&#])(?:(?P<repo>{_NAME})?#(?P<num>{_NUM})"
    rf"|https?://[^\s/]+/(?P<urepo>{_NAME})/pull/(?P<unum>{_NUM}))(?!\w)")


def github_reverts(title: str | None, body: str | None, repo: str,
                   number: int | None = None) -> tuple[str, int] | None:
    """(repo, number) of the pull request that a PR titled `title` with description `body`
    in `repo` reverts, or None.

    Either the body says so ("Reverts owner/repo#N", "Reverts #N", a PR URL after
    "Reverts"), or the title is GitHub's `Revert "…"` and the body's first reference to a
    pull request (#N in the same repo, owner/repo#N, or a PR URL) names it. Repository
    names are lower-cased; a PR never reverts itself."""
    patterns = [_EXPLICIT]
    if title and _REVERT_TITLE.match(title):
        patterns.append(_REFERENCE)
    return first_revert(patterns, body or "", repo, number)


# GitHub's closing keywords: "Fixes #12", "closes owner/repo#12", "Resolves <issue URL>".
_CLOSES = re.compile(
    rf"\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\b:?\s+"
    rf"(?:(?P<repo>{_NAME})?#(?P<num>{_NUM})"
    rf"|https?://[^\s/]+/(?P<urepo>{_NAME})/issues/(?P<unum>{_NUM}))(?!\w)",
    re.IGNORECASE)


def github_closes(body: str, repo: str) -> tuple[tuple[str, int], ...]:
    """(repo, number) of the issues a pull request's description closes, in order, at
    most 20; names lower-cased, a reference without a repository means `repo`."""
    found: dict[tuple[str, int], None] = {}
    for match in _CLOSES.finditer(body or ""):
        target = ((match.group("repo") or match.group("urepo") or repo).lower(),
                  int(match.group("num") or match.group("unum")))
        if target[1] > 0:
            found[target] = None
    return tuple(found)[:20]


# A pull request named in free text (an incident's title or note): its URL or owner/repo#N.
_NAMED_PR = re.compile(
    rf"(?<![\w/&#])(?:(?P<repo>{_NAME})#(?P<num>{_NUM})"
    rf"|https?://[^\s/]+/(?P<urepo>{_NAME})/pull/(?P<unum>{_NUM}))(?!\w)")


def named_pull_requests(text: str | None) -> tuple[tuple[str, int], ...]:
    """(repo, number) of the pull requests `text` names by URL or `owner/repo#N`, at most
    10 (a bare #N names nothing: the text belongs to no repository)."""
    found: dict[tuple[str, int], None] = {}
    for match in _NAMED_PR.finditer(text or ""):
        found[((match.group("repo") or match.group("urepo")).lower(),
               int(match.group("num") or match.group("unum")))] = None
    return tuple(found)[:10]
