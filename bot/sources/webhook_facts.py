"""What the signed-webhook sources (GitHub, GitLab, PagerDuty) have in common.

Pure: no Redis, no HTTP server, no Slack. A route verifies the delivery with the source's
`*_verify`, turns the raw body into `Fact`s with `*_facts`, and answers
`WebhookError.status` with `WebhookError.message` when either refuses. What each source
counts, ignores and refuses is in docs/webhooks.md.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

# Fact.kind values. APPROVAL, PR_PUSHED, INCIDENT_TRIGGERED and INCIDENT_NOTE are not
# outcomes: they are remembered for the rules (bot.core.outcome_rules); DEPLOY_FAILED takes
# credit back from the pull request that shipped the commit.
PR_MERGED = "pr_merged"
REVIEW = "review"
DEPLOY = "deploy"
TICKET_RESOLVED = "ticket_resolved"
INCIDENT_RESOLVED = "incident_resolved"
APPROVAL = "approval"
PR_PUSHED = "pr_pushed"
DEPLOY_FAILED = "deploy_failed"
INCIDENT_TRIGGERED = "incident_triggered"
INCIDENT_NOTE = "incident_note"
KINDS = (PR_MERGED, REVIEW, DEPLOY, TICKET_RESOLVED, INCIDENT_RESOLVED, APPROVAL, PR_PUSHED,
         DEPLOY_FAILED, INCIDENT_TRIGGERED, INCIDENT_NOTE)


class WebhookError(Exception):
    """The delivery is refused as a whole: `status` is the HTTP status to answer with
    (400 unparsable or missing a field we need, 401 bad or missing signature / token) and
    `message` a short sentence for the sender's delivery log."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Fact:
    """One outcome a delivery reports, or one fact the caller must remember (an approval).

    `actor`, `author` and `merged_by` are identity strings (`github:octocat`, `gitlab:ana`,
    `gitlab-id:51`, `pagerduty:PABC123`). GitHub and GitLab logins and repository paths are
    lower-cased (both products treat them case-insensitively); PagerDuty ids are kept as
    sent. `ts` is always an aware datetime in UTC.
    """

    kind: str
    actor: str
    actor_email: str | None
    ts: datetime
    object_id: str  # the same for every delivery about the object (org and repo hooks alike)
    ref: str | None  # a web page for people, when the payload has one
    # pull / merge requests (review and approval facts carry repo, number and author too)
    repo: str | None = None  # "owner/name" (GitLab: path_with_namespace), lower-cased
    number: int | None = None  # PR number / MR iid
    author: str | None = None  # identity of the PR / MR author
    merged_by: str | None = None  # identity of who merged it (pr_merged only)
    changed_lines: int | None = None  # additions + deletions; None when the payload has none
    reverts: tuple[str, int] | None = None  # (repo, number) this merged PR / MR reverts
    delivery_id: str | None = None  # PagerDuty event.id (the delivery; dedupe on it)
    # what the rules measure (bot.core.outcome_rules); None when the payload does not say
    opened_at: datetime | None = None  # PR opened (review, pr_pushed: last push), issue
    # opened, incident triggered
    opener: str | None = None  # identity of who opened the issue
    sha: str | None = None  # deployed commit; a merged PR's merge commit
    environment: str | None = None  # deploy environment as sent
    production: bool | None = None  # the source marks the environment as production
    urgency: str | None = None  # incident urgency ("high", "low")
    closes: tuple[tuple[str, int], ...] = ()  # issues a merged PR says it closes
    names: tuple[tuple[str, int], ...] = ()  # pull requests an incident names


# ---------------------------------------------------------------------------------------
# Signatures and tokens


def hmac_sha256_hex(secret: str, body: bytes) -> str:
    """Lower-case hex HMAC-SHA256 of `body` keyed with the UTF-8 bytes of `secret`."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def same(expected: str, given: str) -> bool:
    """Constant-time comparison of two strings of any content (compared as UTF-8 bytes,
    so a non-ASCII header cannot make `hmac.compare_digest` raise)."""
    return hmac.compare_digest(expected.encode("utf-8", "surrogatepass"),
                               given.encode("utf-8", "surrogatepass"))


# ---------------------------------------------------------------------------------------
# Body


def parse_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or WebhookError(400)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise WebhookError(400, "body is not UTF-8") from None
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise WebhookError(400, f"body is not JSON: {str(exc)[:120]}") from None
    if not isinstance(doc, dict):
        raise WebhookError(400, "body is not a JSON object")
    return doc


def lookup(doc: dict[str, Any], path: str) -> Any:
    """The value at dotted `path` ("pull_request.user.login"), or None when any step is
    absent, null or not an object."""
    value: Any = doc
    for key in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def need(doc: dict[str, Any], path: str) -> Any:
    """The value at `path`; WebhookError(400) naming the field when it is absent or null."""
    value = lookup(doc, path)
    if value is None:
        raise WebhookError(400, f"{path} is missing")
    return value


def need_str(doc: dict[str, Any], path: str) -> str:
    value = need(doc, path)
    if not isinstance(value, str) or not value.strip():
        raise WebhookError(400, f"{path} must be a non-empty string")
    return value.strip()


def need_int(doc: dict[str, Any], path: str) -> int:
    value = need(doc, path)
    if isinstance(value, bool) or not isinstance(value, int):
        raise WebhookError(400, f"{path} must be an integer")
    return value


_TOKEN = re.compile(r"[^\x00-\x20\x7f]{1,200}")


def need_token(doc: dict[str, Any], path: str) -> str:
    """A non-empty string without whitespace or control characters (an id) at `path`."""
    value = need_str(doc, path)
    if not _TOKEN.fullmatch(value):
        raise WebhookError(400, f"{path} is not a usable id")
    return value


def opt_str(doc: dict[str, Any], path: str) -> str | None:
    """A non-empty string at `path`, else None (absent, null, empty or another type)."""
    value = lookup(doc, path)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def opt_int(doc: dict[str, Any], path: str) -> int | None:
    value = lookup(doc, path)
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


# ---------------------------------------------------------------------------------------
# Identities

# Logins and ids: no whitespace or control characters, at most 254 characters. A subset of
# the value part of bot.intake.identities.IDENTITY (not imported: that module needs Redis).
_IDENTITY_VALUE = re.compile(r"[^\x00-\x20\x7f]{1,254}")
_EMAIL = re.compile(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+")


def identity(source: str, value: str, path: str, lower: bool = True) -> str:
    """`source:value` for a login / id read from `path`; WebhookError(400) if it could
    never be an identity (whitespace, control characters, too long)."""
    if lower:
        value = value.lower()
    if not _IDENTITY_VALUE.fullmatch(value):
        raise WebhookError(400, f"{path} is not a usable {source} identity")
    return f"{source}:{value}"


def email_or_none(value: Any) -> str | None:
    """A plausible email address, lower-cased, or None (GitLab sends "[REDACTED]" or ""
    for people without a public email)."""
    if isinstance(value, str):
        value = value.strip().lower()
        if len(value) <= 254 and _EMAIL.fullmatch(value):
            return value
    return None


def first_revert(patterns: list[re.Pattern[str]], text: str, repo: str,
                 number: int | None) -> tuple[str, int] | None:
    """The first (repo, number) the `patterns` find in `text`, trying the patterns in
    order. Each match has groups repo/num (a reference) or urepo/unum (a URL); a reference
    without a repo means `repo`. Names are lower-cased; `number` itself in `repo` (a PR
    cannot revert itself) and 0 are skipped."""
    repo = repo.lower()
    for pattern in patterns:
        for match in pattern.finditer(text):
            target_repo = (match.group("repo") or match.group("urepo") or repo).lower()
            target = int(match.group("num") or match.group("unum"))
            if target <= 0 or (target_repo == repo and target == number):
                continue
            return target_repo, target
    return None


# ---------------------------------------------------------------------------------------
# Timestamps

_TS = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?"
    r"\s*(Z|UTC|[+-]\d{2}(?::?\d{2})?)", re.IGNORECASE)


def timestamp(doc: dict[str, Any], path: str) -> datetime:
    """The time at `path` as an aware UTC datetime. Accepts ISO 8601 with `Z` or an offset
    ("2019-05-15T15:20:33Z", "2020-10-02T18:45:22.169Z") and GitLab's "2019-05-15 15:20:33
    UTC" and "2021-04-28 21:50:00 +0200". A time without a zone is refused (400)."""
    text = need(doc, path)
    if not isinstance(text, str):
        raise WebhookError(400, f"{path} must be a timestamp string")
    match = _TS.fullmatch(text.strip())
    if not match:
        raise WebhookError(400, f"{path} is not a timestamp with a time zone: {text[:40]!r}")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    zone = zone.upper()
    if zone in ("Z", "UTC"):
        tz = UTC
    else:
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
        try:
            tz = timezone(sign * offset)
        except ValueError:
            raise WebhookError(400, f"{path} has an impossible offset: {text[:40]!r}") from None
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        when = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second),
                        micro, tzinfo=tz)
        return when.astimezone(UTC)
    except (ValueError, OverflowError):
        raise WebhookError(400, f"{path} is not a valid time: {text[:40]!r}") from None
