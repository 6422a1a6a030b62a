"""GitLab webhooks: check the secret token, turn a payload into `Fact`s.

Pure functions. The route passes the `X-Gitlab-Token` header to `gitlab_verify` and the
`X-Gitlab-Event` header with the raw body to `gitlab_facts`. GitLab does not sign
deliveries: the token it sends is the secret itself, compared in constant time.

Counted (everything else is `[]`, never an error):

- "Merge Request Hook", `object_attributes.action` "merge" -> `pr_merged` for the MR's
  author, with merged_by (the payload's `user`: who merged), reverts, and
  changed_lines None (merge request payloads carry no line counts);
- "Merge Request Hook", action "approval" or "approved" by someone other than the author
  -> an `approval` fact (remembered for the self-merge rule, not an outcome);
- "Deployment Hook" with `status` "success" -> `deploy` for `user` (who ran it).

Who the author is: a merge request payload names its author only by numeric id
(`object_attributes.author_id`); `user` is whoever triggered the event. When `user.id`
equals `author_id` the author is `gitlab:<user.username>` (with `user.email` when it is
public); otherwise the author is `gitlab-id:<author_id>`, an identity an admin links once
(or the caller resolves with GitLab's users API). So `author == merged_by` exactly when
the same account opened and merged the MR.
"""

from __future__ import annotations

import re
from typing import Any

from bot.sources.webhook_facts import (
    APPROVAL,
    DEPLOY,
    DEPLOY_FAILED,
    PR_MERGED,
    Fact,
    WebhookError,
    email_or_none,
    first_revert,
    identity,
    lookup,
    need_int,
    need_str,
    opt_str,
    parse_object,
    same,
    timestamp,
)

TOKEN_HEADER = "X-Gitlab-Token"
EVENT_HEADER = "X-Gitlab-Event"
MERGE_REQUEST_HOOK = "Merge Request Hook"
DEPLOYMENT_HOOK = "Deployment Hook"


def gitlab_verify(expected_token: str, header_token: str | None) -> None:
    """`X-Gitlab-Token` must equal the configured secret token (constant time);
    WebhookError(401) if it is missing or different, or if no token is configured."""
    if not expected_token:
        raise WebhookError(401, "no GitLab webhook token is configured")
    if not header_token:
        raise WebhookError(401, f"{TOKEN_HEADER} header is missing")
    if not same(expected_token, header_token):
        raise WebhookError(401, f"{TOKEN_HEADER} is wrong")


def gitlab_facts(event: str, body: bytes) -> list[Fact]:
    """The facts in one delivery. `event` is the `X-Gitlab-Event` header.

    WebhookError(400) when the body is not a JSON object, or when an event we count lacks
    a field we need (the message names it). Everything else gives []."""
    doc = parse_object(body)
    event = event.strip()
    if event == MERGE_REQUEST_HOOK:
        action = lookup(doc, "object_attributes.action")
        if action == "merge":
            return [_merged(doc)]
        if action in ("approval", "approved"):
            return _approval(doc)
        return []
    if event == DEPLOYMENT_HOOK and lookup(doc, "status") in ("success", "failed"):
        return [_deploy(doc)]
    return []


# ---------------------------------------------------------------------------------------


def _user(doc: dict[str, Any]) -> str:
    return identity("gitlab", need_str(doc, "user.username"), "user.username")


def _author(doc: dict[str, Any]) -> tuple[str, str | None]:
    """The MR author's identity and email (see the module docstring)."""
    author_id = need_int(doc, "object_attributes.author_id")
    user_id = lookup(doc, "user.id")
    if isinstance(user_id, int) and not isinstance(user_id, bool) and user_id == author_id:
        return _user(doc), email_or_none(lookup(doc, "user.email"))
    return f"gitlab-id:{author_id}", None


def _repo(doc: dict[str, Any]) -> str:
    name = (opt_str(doc, "project.path_with_namespace")
            or opt_str(doc, "object_attributes.target.path_with_namespace"))
    if name is None:
        raise WebhookError(400, "project.path_with_namespace is missing")
    return name.lower()


def _merged(doc: dict[str, Any]) -> Fact:
    mr_id = need_int(doc, "object_attributes.id")
    author, email = _author(doc)
    repo = _repo(doc)
    number = need_int(doc, "object_attributes.iid")
    return Fact(
        kind=PR_MERGED, actor=author, actor_email=email,
        ts=timestamp(doc, "object_attributes.updated_at"),
        object_id=f"gitlab:mr:{mr_id}", ref=opt_str(doc, "object_attributes.url"),
        repo=repo, number=number, author=author, merged_by=_user(doc), changed_lines=None,
        reverts=gitlab_reverts(opt_str(doc, "object_attributes.title"),
                               opt_str(doc, "object_attributes.description"), repo, number),
        # the 8-character short sha, as Deployment Hook payloads name the deployed commit
        sha=(opt_str(doc, "object_attributes.merge_commit_sha") or "")[:8] or None)


def _approval(doc: dict[str, Any]) -> list[Fact]:
    author, _email = _author(doc)
    approver = _user(doc)
    if approver == author:
        return []
    return [Fact(
        kind=APPROVAL, actor=approver, actor_email=email_or_none(lookup(doc, "user.email")),
        ts=timestamp(doc, "object_attributes.updated_at"),
        object_id=f"gitlab:mr:{need_int(doc, 'object_attributes.id')}",
        ref=opt_str(doc, "object_attributes.url"), repo=_repo(doc),
        number=need_int(doc, "object_attributes.iid"), author=author)]


def _deploy(doc: dict[str, Any]) -> Fact:
    tier = lookup(doc, "environment_tier")
    return Fact(
        kind=DEPLOY if lookup(doc, "status") == "success" else DEPLOY_FAILED,
        actor=_user(doc), actor_email=email_or_none(lookup(doc, "user.email")),
        ts=timestamp(doc, "status_changed_at"),
        object_id=f"gitlab:deployment:{need_int(doc, 'deployment_id')}",
        ref=opt_str(doc, "deployable_url") or opt_str(doc, "commit_url"),
        repo=(opt_str(doc, "project.path_with_namespace") or "").lower() or None,
        sha=opt_str(doc, "short_sha"), environment=opt_str(doc, "environment"),
        production=(tier == "production") if isinstance(tier, str) else None)


# ---------------------------------------------------------------------------------------
# Reverts

_PATH = r"[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)+"
_NUM = r"\d{1,10}"
# "This reverts merge request !12" (what GitLab's Revert button writes),
# "This reverts merge request group/project!12", or a merge request URL after "reverts".
_EXPLICIT = re.compile(
    rf"\breverts?\b[\s:]*(?:merge\s+request\s+|mr\s+)?[\[<(]?\s*"
    rf"(?:(?P<repo>{_PATH})?!(?P<num>{_NUM})"
    rf"|https?://[^\s/]+/(?P<urepo>{_PATH})/-/merge_requests/(?P<unum>{_NUM}))(?!\w)",
    re.IGNORECASE)
_REVERT_TITLE = re.compile(r"\s*revert\b\s*[\"“”']", re.IGNORECASE)
_REFERENCE = re.compile(
    rf"(?<![\w/&!])(?:(?P<repo>{_PATH})?!(?P<num>{_NUM})"
    rf"|https?://[^\s/]+/(?P<urepo>{_PATH})/-/merge_requests/(?P<unum>{_NUM}))(?!\w)")


def gitlab_reverts(title: str | None, description: str | None, repo: str,
                   number: int | None = None) -> tuple[str, int] | None:
    """(path_with_namespace, iid) of the merge request that an MR titled `title` with
    `description` in `repo` reverts, or None: "This reverts merge request !N" (or
    group/project!N, or an MR URL), or a `Revert "…"` title with the description's first
    MR reference. A revert of a plain commit ("This reverts commit <sha>") gives None."""
    patterns = [_EXPLICIT]
    if title and _REVERT_TITLE.match(title):
        patterns.append(_REFERENCE)
    return first_revert(patterns, description or "", repo, number)
