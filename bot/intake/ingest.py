"""Reports in: parse a batch, validate each event, resolve emails, count once.

Shared by `POST /ingest`, Slack message metadata events and the offline demo, so all
three count the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from typing import Any

from bot.core.config import BoardConfig
from bot.core.counts import Outcome, Usage
from bot.intake.identities import Identities
from bot.sources.reports import (
    MAX_EVENTS,
    OutcomeReport,
    ReportError,
    UsageReport,
    counted,
    validate_report,
)
from bot.sources.strict_json import MAX_DEPTH, StrictJSONError, loads
from bot.store.store import (
    CONFLICT,
    COUNTED,
    DUPLICATE,
    REBUILDING,
    STALE_CONFIG,
    Store,
    is_identity,
)


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
    unmapped: list[str] = field(default_factory=list)  # identities kept for nobody yet

    def reject(self, index: int, raw: Any, error: str) -> None:
        entry: dict[str, Any] = {"index": index, "error": error}
        if isinstance(raw, dict) and isinstance(raw.get("id"), str):
            entry["id"] = raw["id"]
        self.rejected.append(entry)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"accepted": self.accepted, "duplicates": self.duplicates,
                               "rejected": self.rejected}
        if self.unmapped:
            out["unmapped"] = self.unmapped
        return out


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


class ScoringChanged(Exception):
    """The scoring configuration changed again and again while a batch was counted (a
    rescore never pauses ingest; this is only an admin saving several times within the
    request); retry in a moment: what was counted is found as duplicates."""


def ingest_events(store: Store, identities: Identities, events: list[Any],
                  now: datetime | None = None, sender: str = "default") -> IngestResult:
    """Validate and count `events` from `sender` (ids are scoped to it). An email that
    maps to nobody is kept under the identity `email:ADDRESS` (listed in `unmapped`).
    Redis errors and LookupUnavailable (Slack cannot map emails right now) propagate
    before anything is counted (the caller answers 503), and so does ScoringChanged
    once every event that could be counted has been."""
    now = now or datetime.now(UTC)
    result = IngestResult()
    config, version = store.configs.load_versioned()
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
    emails = [(i, r) for i, r in checked if not r.user]
    resolved = dict(zip((i for i, _ in emails), identities.resolve_many(
        [f"email:{r.email}" for _, r in emails]), strict=True))
    valid = [(index, counted(report), report.user or resolved[index])
             for index, report in checked]
    done = tally(store, valid, sender, (config, version))
    result.accepted, result.duplicates = done.counted, len(done.duplicates)
    result.unmapped = done.unmapped
    reports = {index: report for index, report, _ in valid}
    for index in done.conflicts:
        result.reject(index, events[index], f"conflict: id {reports[index].id!r} was already "
                      "used by this sender for a different report; use a new id")
    for index in done.removed:
        result.reject(index, events[index], f"outcome kind "
                      f"{getattr(reports[index], 'kind', '')!r} was just removed by an admin")
    return result


REMOVED_KIND = -10


def count(store: Store, items: list[tuple[int, Usage | Outcome, str]],
          sender: str, config: tuple[BoardConfig, int] | None = None) -> dict[int, int]:
    """Record (index, report, who) items; each index's final store status (COUNTED,
    DUPLICATE, CONFLICT, REBUILDING, or REMOVED_KIND for an outcome kind an admin removed
    while we counted). Reports scored with a configuration that changed meanwhile are
    re-scored with the new one. `config`: the (configuration, version) the caller just
    loaded, if it did."""
    statuses: dict[int, int] = {}
    config, version = config or store.configs.load_versioned()
    pending = items
    for _attempt in range(3):
        if not pending:
            break
        answers = store.counting.record([(r, w) for _, r, w in pending], config, version,
                                        sender)
        stale = []
        for item, status in zip(pending, answers, strict=True):
            if status == STALE_CONFIG:
                stale.append(item)
            else:
                statuses[item[0]] = status
        # An admin changed the scoring while we were counting: use the new rules.
        config, version = store.configs.load_versioned() if stale else (config, version)
        pending = []
        for index, report, who in stale:
            if not isinstance(report, Usage) and report.kind not in config.outcomes:
                statuses[index] = REMOVED_KIND
            else:
                pending.append((index, report, who))
    for index, _report, _who in pending:
        statuses[index] = REBUILDING  # still stale after three tries: ask for a retry
    return statuses


@dataclass
class Tally:
    """What `tally` did with a batch: how many were counted, the indices of the others
    by reason, and the identities counted for nobody yet (in order, once each)."""

    counted: int = 0
    duplicates: list[int] = field(default_factory=list)
    conflicts: list[int] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)


def tally(store: Store, items: list[tuple[int, Any, str]], sender: str,
          config: tuple[BoardConfig, int] | None = None) -> Tally:
    """`count` the items and sort the outcome; ScoringChanged if any must be retried
    (after everything else was counted: the retry finds those as duplicates)."""
    statuses = count(store, items, sender, config)
    result = Tally()
    for index, _report, who in items:
        status = statuses[index]
        if status == COUNTED:
            result.counted += 1
            if is_identity(who) and who not in result.unmapped:
                result.unmapped.append(who)
        elif status == DUPLICATE:
            result.duplicates.append(index)
        elif status == CONFLICT:
            result.conflicts.append(index)
        elif status == REMOVED_KIND:
            result.removed.append(index)
    if REBUILDING in statuses.values():
        raise ScoringChanged("the scoring configuration changed while this was counted")
    return result
