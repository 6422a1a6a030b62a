"""PagerDuty v3 webhooks: verify a delivery's signatures, turn its payload into `Fact`s.

Pure functions. The route passes the raw body and the `X-PagerDuty-Signature` header to
`pagerduty_verify`, then the body to `pagerduty_facts`.

Counted: `event.event_type` "incident.resolved" whose `event.agent` is a user
(`user_reference`) -> `incident_resolved` for `pagerduty:<agent id>`, object
`pagerduty:incident:<incident id>`, `delivery_id` = `event.id`, with the incident's
urgency, when it was created and the pull requests its title names. An incident resolved
by no one in particular (agent null, a service or an integration: auto-resolve, timeouts)
credits nobody and gives [].

Remembered for the rules: "incident.triggered" -> `incident_triggered` (who or what
triggered it: `pagerduty:<user id>` for a user, `pagerduty-<type>:<id>` otherwise), and
"incident.annotated" -> `incident_note` (the pull requests the note names). Every other
event type (`pagey.ping` included) gives [].
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.sources.github import named_pull_requests
from bot.sources.webhook_facts import (
    INCIDENT_NOTE,
    INCIDENT_RESOLVED,
    INCIDENT_TRIGGERED,
    Fact,
    WebhookError,
    hmac_sha256_hex,
    identity,
    lookup,
    need_str,
    need_token,
    opt_str,
    parse_object,
    same,
    timestamp,
)

SIGNATURE_HEADER = "X-PagerDuty-Signature"
MAX_SIGNATURES = 16  # a header with more entries than this is refused


def pagerduty_verify(secret: str, body: bytes, signature_header: str | None) -> None:
    """Check `X-PagerDuty-Signature`: comma-separated `v1=<hex HMAC-SHA256 of the raw
    body>` entries, one per signing secret while a secret is rotated. The delivery passes
    when any v1 entry matches `secret` (constant-time comparisons); entries of other
    versions are skipped. WebhookError(401) otherwise, or if no secret is configured."""
    if not secret:
        raise WebhookError(401, "no PagerDuty webhook secret is configured")
    if not signature_header:
        raise WebhookError(401, f"{SIGNATURE_HEADER} header is missing")
    entries = [e.strip() for e in signature_header.split(",") if e.strip()]
    if len(entries) > MAX_SIGNATURES:
        raise WebhookError(401, f"{SIGNATURE_HEADER} has more than {MAX_SIGNATURES} entries")
    expected = "v1=" + hmac_sha256_hex(secret, body)
    matched = False
    for entry in entries:
        version, sep, digest = entry.partition("=")
        if sep and version.strip().lower() == "v1":
            # no early exit: every entry is compared, whichever one matches
            matched |= same(expected, "v1=" + digest.strip().lower())
    if not matched:
        raise WebhookError(401, f"no v1 signature in {SIGNATURE_HEADER} matches the body")


def pagerduty_facts(body: bytes) -> list[Fact]:
    """The facts in one v3 webhook delivery (one event per delivery).

    WebhookError(400) when the body is not a JSON object, or when an incident.resolved
    event lacks a field we need (the message names it)."""
    doc = parse_object(body)
    event_type = lookup(doc, "event.event_type")
    if event_type == "incident.triggered":
        return [_triggered(doc)]
    if event_type == "incident.annotated":
        return _annotated(doc)
    if event_type != "incident.resolved":
        return []
    agent = lookup(doc, "event.agent")
    if not isinstance(agent, dict) or agent.get("type") != "user_reference":
        return []  # resolved automatically or by an integration: nobody to credit
    return [_resolved(doc)]


def pagerduty_event_id(body: bytes) -> str | None:
    """`event.id` of a delivery (the same on every retry of it), whatever its type;
    None when the body has none. WebhookError(400) when the body is not a JSON object."""
    return opt_str(parse_object(body), "event.id")


def _resolved(doc: dict[str, Any]) -> Fact:
    agent = need_str(doc, "event.agent.id")
    incident = need_token(doc, "event.data.id")
    return Fact(
        kind=INCIDENT_RESOLVED,
        actor=identity("pagerduty", agent, "event.agent.id", lower=False),
        actor_email=None,  # v3 payloads name users by id and display name only
        ts=timestamp(doc, "event.occurred_at"),
        object_id=f"pagerduty:incident:{incident}",
        ref=opt_str(doc, "event.data.html_url"),
        delivery_id=need_token(doc, "event.id"),
        opened_at=_created(doc),
        urgency=opt_str(doc, "event.data.urgency"),
        names=named_pull_requests(opt_str(doc, "event.data.title")))


def _created(doc: dict[str, Any]) -> datetime | None:
    if not isinstance(lookup(doc, "event.data.created_at"), str):
        return None
    try:
        return timestamp(doc, "event.data.created_at")
    except WebhookError:
        return None


def _agent(doc: dict[str, Any]) -> str:
    """Who or what an event's agent is: `pagerduty:<id>` for a user, else
    `pagerduty-<service|integration|…>:<id>` (`pagerduty-none:-` when there is none)."""
    agent = lookup(doc, "event.agent")
    if not isinstance(agent, dict) or not isinstance(agent.get("id"), str):
        return "pagerduty-none:-"
    if agent.get("type") == "user_reference":
        return identity("pagerduty", need_str(doc, "event.agent.id"), "event.agent.id",
                        lower=False)
    kind = str(agent.get("type") or "agent").removesuffix("_reference")
    return identity(f"pagerduty-{kind[:20]}", need_str(doc, "event.agent.id"),
                    "event.agent.id", lower=False)


def _triggered(doc: dict[str, Any]) -> Fact:
    incident = need_token(doc, "event.data.id")
    when = timestamp(doc, "event.occurred_at")
    return Fact(kind=INCIDENT_TRIGGERED, actor=_agent(doc), actor_email=None, ts=when,
                object_id=f"pagerduty:incident:{incident}",
                ref=opt_str(doc, "event.data.html_url"),
                delivery_id=need_token(doc, "event.id"), opened_at=_created(doc) or when,
                urgency=opt_str(doc, "event.data.urgency"),
                names=named_pull_requests(opt_str(doc, "event.data.title")))


def _annotated(doc: dict[str, Any]) -> list[Fact]:
    names = named_pull_requests(opt_str(doc, "event.data.content"))
    incident = opt_str(doc, "event.data.incident.id")
    if not names or incident is None:
        return []
    return [Fact(kind=INCIDENT_NOTE, actor=_agent(doc), actor_email=None,
                 ts=timestamp(doc, "event.occurred_at"),
                 object_id=f"pagerduty:incident:{incident}", ref=None,
                 delivery_id=need_token(doc, "event.id"), names=names)]
