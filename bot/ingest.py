"""Reports in: parse a batch, validate each event, resolve emails, count once.

Shared by `POST /ingest`, Slack message metadata events and the offline demo, so all
three count the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.config import BoardConfig
from bot.directory import Directory, LookupUnavailable
from bot.reports import MAX_EVENTS, OutcomeReport, ReportError, UsageReport, validate_report
from bot.store import Store


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

    def as_dict(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "duplicates": self.duplicates,
                "rejected": self.rejected}


def parse_batch(body: bytes) -> list[Any]:
    """The `events` list of an /ingest body, or BadBatch saying what is wrong."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
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


def ingest_events(store: Store, directory: Directory, config: BoardConfig,
                  events: list[Any], now: datetime | None = None) -> IngestResult:
    """Validate and count `events`. Redis errors propagate (the caller answers 503)."""
    now = now or datetime.now(UTC)
    result = IngestResult()
    kinds = frozenset(config.outcomes)
    valid: list[tuple[UsageReport | OutcomeReport, str]] = []
    for index, raw in enumerate(events):
        try:
            report = validate_report(raw, now=now, retention_days=store.retention_days,
                                     known_kinds=kinds)
            user = report.user or _resolve(directory, report.email or "")
        except ReportError as exc:
            entry: dict[str, Any] = {"index": index, "error": str(exc)}
            if isinstance(raw, dict) and isinstance(raw.get("id"), str):
                entry["id"] = raw["id"]
            result.rejected.append(entry)
            continue
        valid.append((report, user))
    if valid:
        for counted in store.record(valid, config):
            if counted:
                result.accepted += 1
            else:
                result.duplicates += 1
    return result


def _resolve(directory: Directory, email: str) -> str:
    try:
        user = directory.user_for_email(email)
    except LookupUnavailable as exc:
        raise ReportError(f"could not resolve email {email!r} right now ({exc}); retry") from None
    if not user:
        raise ReportError(f"no Slack user has the email {email!r}")
    return user
