"""Reports in: parse a batch, validate each event, resolve emails, count once.

Shared by `POST /ingest`, Slack message metadata events and the offline demo, so all
three count the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from typing import Any

from bot.directory import Directory
from bot.reports import MAX_EVENTS, OutcomeReport, ReportError, UsageReport, validate_report
from bot.store import COUNTED, DUPLICATE, REBUILDING, Store
from bot.strict_json import MAX_DEPTH, StrictJSONError, loads


class BadBatch(ValueError):
    """The body as a whole is unusable (HTTP 400, or 413 when `too_large`)."""

    def __init__(self, message: str, too_large: bool = False) -> None:
        super().__init__(message)
        self.too_large = too_large


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def reject(self, index: int, raw: Any, error: str) -> None:
        entry: dict[str, Any] = {"index": index, "error": error}
        if isinstance(raw, dict) and isinstance(raw.get("id"), str):
            entry["id"] = raw["id"]
        self.rejected.append(entry)

    def as_dict(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "duplicates": self.duplicates,
                "rejected": self.rejected}


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

    The body is read as strict JSON (`bot.strict_json`): UTF-8 only, no NaN/Infinity, no
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


class ScoresRebuilding(Exception):
    """Scores are being rebuilt after a configuration change; retry in a little while."""


def ingest_events(store: Store, directory: Directory, events: list[Any],
                  now: datetime | None = None, sender: str = "default") -> IngestResult:
    """Validate and count `events`. Redis errors and LookupUnavailable (Slack cannot map
    emails right now) propagate before anything is counted (the caller answers 503), and
    so does ScoresRebuilding once every event that could be counted has been."""
    now = now or datetime.now(UTC)
    result = IngestResult()
    config, version = store.load_config_versioned()
    checked: list[tuple[int, UsageReport | OutcomeReport]] = []
    for index, raw in enumerate(events):
        try:
            checked.append((index, validate_report(
                raw, now=now, retention_days=store.retention_days,
                known_kinds=frozenset(config.outcomes))))
        except ReportError as exc:
            result.reject(index, raw, str(exc))
    # Every email of the batch at once (concurrent lookups); LookupUnavailable propagates
    # before anything is counted, so the sender's retry of the whole batch loses nothing.
    users = directory.users_for_emails(r.email for _, r in checked if r.email)
    valid: list[tuple[int, UsageReport | OutcomeReport, str]] = []
    for index, report in checked:
        try:
            user = report.user or _resolve(users, report.email or "")
        except ReportError as exc:
            result.reject(index, events[index], str(exc))
            continue
        valid.append((index, report, user))
    rebuilding = False
    for _attempt in range(3):
        if not valid:
            break
        statuses = store.record([(r, u) for _, r, u in valid], config, version)
        stale = []
        for item, status in zip(valid, statuses, strict=True):
            if status == COUNTED:
                result.accepted += 1
            elif status == DUPLICATE:
                result.duplicates += 1
            elif status == REBUILDING:
                rebuilding = True
            else:
                stale.append(item)
        if not stale:
            break
        # An admin changed the scoring while we were counting: use the new rules.
        config, version = store.load_config_versioned()
        valid = []
        for index, report, user in stale:
            if isinstance(report, OutcomeReport) and report.kind not in config.outcomes:
                result.reject(index, events[index], f"outcome kind {report.kind!r} was just "
                              "removed by an admin")
            else:
                valid.append((index, report, user))
    if rebuilding:
        raise ScoresRebuilding("scores are being rebuilt after a configuration change")
    return result


def _resolve(users: Mapping[str, str | None], email: str) -> str:
    user = users.get(email)
    if not user:
        raise ReportError(f"no Slack user has the email {email!r}")
    return user
