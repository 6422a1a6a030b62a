"""Reports in: parse a batch, validate each event, turn it into the counting model,
resolve emails, count once (`bot.intake.count`).

Shared by `POST /ingest`, Slack message metadata events and the offline demo, so all
three count the same way; /ingest's JSON answer is built from the `Counted` by its route
(`bot.web.ingest_route`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from email.message import Message
from typing import Any

from bot.core.config import BoardConfig
from bot.core.tools import MULTI_SOURCE, tool_key
from bot.intake.count import Counted, config_for, count
from bot.intake.identities import Identities, for_owner
from bot.intake.tool_sources import LABELS, counts, first_heard
from bot.sources.reports import (
    MAX_EVENTS,
    OutcomeReport,
    ReportError,
    UsageReport,
    as_counts,
    validate_report,
)
from bot.sources.strict_json import MAX_DEPTH, StrictJSONError, loads
from bot.store.cached import Guard
from bot.store.store import Store


class BadBatch(ValueError):
    """The body as a whole is unusable (HTTP 400, or 413 when `too_large`)."""

    def __init__(self, message: str, too_large: bool = False) -> None:
        super().__init__(message)
        self.too_large = too_large


def content_type_problem(header: str) -> str | None:
    """Why an /ingest Content-Type is refused (HTTP 415), or None for
    `application/json` with no charset or charset utf-8."""
    message = Message()
    message["Content-Type"] = header or "text/plain"
    if not header or message.get_content_type() != "application/json":
        return f"Content-Type must be application/json, got {header[:100]!r}"
    charset = message.get_param("charset")
    if charset is not None and str(charset).lower() not in ("utf-8", "utf8"):
        return f"charset must be utf-8, got {str(charset)[:40]!r}"
    return None


def parse_batch(body: bytes) -> list[Any]:
    """The `events` list of an /ingest body, or BadBatch saying what is wrong.

    The body is read as strict JSON (`bot.sources.strict_json`): UTF-8 only, no NaN/Infinity, no
    duplicate keys, at most MAX_DEPTH levels. Numbers out of range stay in their event,
    as a marker its validation rejects, so they cost only that event."""
    try:
        data = loads(body, max_depth=MAX_DEPTH)
    except StrictJSONError as exc:
        raise BadBatch(f"body is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or "events" not in data:
        raise BadBatch('body must be a JSON object like {"events": [...]}')
    extra = sorted(set(data) - {"events"})
    if extra:
        raise BadBatch(f"unknown top-level field(s): {', '.join(extra)}")
    events = data["events"]
    if not isinstance(events, list):
        raise BadBatch("events must be a list")
    if len(events) > MAX_EVENTS:
        raise BadBatch(f"{len(events)} events in one batch; the limit is {MAX_EVENTS}",
                       too_large=True)
    return events


def ingest_events(store: Store, identities: Identities, events: list[Any],
                  now: datetime | None = None, sender: str = "default",
                  owner: str | None = None, guards: Sequence[Guard] | None = None,
                  settled: dict[int, int] | None = None) -> Counted:
    """Validate and count `events` from `sender` (ids are scoped to it). An email that
    maps to nobody is kept under the identity `email:ADDRESS` (listed in `unmapped`).
    `owner`: the Slack user of the personal token the batch came with: events naming
    nobody count for them, events naming another person are rejected
    (`bot.intake.identities.for_owner`; an email that maps to nobody is the owner's).
    Every event that is not counted and not a duplicate is in `rejected`, with its index
    and why. Redis errors and LookupUnavailable (Slack cannot map emails right now)
    propagate before anything is counted (the caller answers 503), and so does
    ScoringChanged once every event that could be counted has been.

    Usage of a tool that another source counts (`tool_sources`: the configuration's
    choice, else the source first heard from) is valid but not counted: it is in
    `rejected` with that reason, so nothing counts twice.

    `guards` (not None): the caller authenticated from this process's caches at these
    versions; the configuration and identity links are then read from the caches too,
    and StaleCaches is raised when any of them moved (`bot.intake.count.count`, which
    keeps in `settled` what is already counted for the request's retry)."""
    now = now or datetime.now(UTC)
    result = Counted()
    config, version = config_for(store, guards)
    checked: list[tuple[int, UsageReport | OutcomeReport]] = []
    kinds, retention_days = frozenset(config.outcomes), store.retention_days
    for index, raw in enumerate(events):
        try:
            checked.append((index, validate_report(
                raw, now=now, retention_days=retention_days, known_kinds=kinds,
                owner=owner)))
        except ReportError as exc:
            result.reject(str(exc), index)
    checked = held_elsewhere(store, config, checked, result)
    # Every email of the batch at once (concurrent lookups); LookupUnavailable propagates
    # before anything is counted, so the sender's retry of the whole batch loses nothing.
    emails = [(i, r) for i, r in checked if not r.user]
    firsts = [f"email:{r.email}" for _, r in emails]
    users, guards = identities.resolve_guarded(firsts, guards)
    resolved = dict(zip((i for i, _ in emails), users, strict=True))
    reports = dict(checked)
    items = []
    for index, report in checked:
        who = for_owner(report.user or resolved[index], owner)
        if who is None:
            result.reject(f"email {report.email} is another person's than this personal "
                          "token's owner; a personal token reports only for its owner", index)
        else:
            items.append((index, as_counts(report), who))
    count(store, items, sender, (config, version), into=result, guards=guards,
          settled=settled)
    for index in result.conflicts:
        result.reject(f"conflict: id {reports[index].id!r} was already used by this sender "
                      "for a different report; use a new id", index)
    for index in result.removed:
        result.reject(f"outcome kind {getattr(reports[index], 'kind', '')!r} was just "
                      "removed by an admin", index)
    return result


def held_elsewhere(store: Store, config: BoardConfig,
                   checked: list[tuple[int, UsageReport | OutcomeReport]],
                   result: Counted) -> list[tuple[int, UsageReport | OutcomeReport]]:
    """`checked` without the usage reports of tools another source counts, each of those
    rejected with the reason. Asked once per tool and batch (`tool_sources.counts` caches
    the source first heard from), never once per event."""
    ours: dict[str, bool] = {}
    kept = []
    for index, report in checked:
        tool = tool_key(report.tool) if isinstance(report, UsageReport) else ""
        if tool in MULTI_SOURCE:
            if tool not in ours:
                ours[tool] = counts(store, config, tool, "ingest")
            if not ours[tool]:
                holder = config.tool_sources.get(tool) or first_heard(store, tool) or "?"
                result.reject(f"{tool} usage counts from {LABELS.get(holder, holder)}, not "
                              "from /ingest (tool_sources), so nothing counts twice: valid, "
                              "not counted", index)
                continue
        kept.append((index, report))
    return kept
