"""A pull (or an import) of one vendor's daily rows: window, resume, counting, result.

- Rows are counted a chunk of whole days at a time; after each chunk the pull's resume
  point moves past those days, so a pull that fails mid-way (the vendor down, Redis
  gone, a rate limit longer than we wait) starts again where it stopped when the same
  window is pulled again (the next scheduled run, or the same command).
- Every row replaces what the same source said before for that identity and day
  (`Store.counting.record`), so re-pulling a day, a corrected day or an overlapping window never
  counts twice: totals change by the difference.
- A day the vendor answers with "no data" (only where the vendor documents a 404 so, see
  `bot.connectors.vendors`) counts nothing, is done like any other day and is listed in
  the result's `no_data`, not as an error.
- Rows whose identity maps to nobody are kept for it and credited when an admin links
  it (`bot.intake.identities`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime

import redis

from bot.connectors.http import PullFailed
from bot.connectors.vendors import TOOLS, Connector, days_between
from bot.core.counts import Usage
from bot.core.window import outside_window
from bot.intake.count import Counted, ScoringChanged, count
from bot.intake.identities import Identities
from bot.intake.tool_sources import LABELS, counts
from bot.slack.directory import LookupUnavailable
from bot.sources import claude_code, copilot, cursor, openai_usage
from bot.sources.daily import DailyRow, Parsed
from bot.store.store import Store, is_identity

LOOKBACK_DAYS = 3  # a default pull re-reads the last days: vendors complete and correct them
BATCH = 2000  # rows counted per store call
MAX_REJECTS = 50  # reasons kept in a result
PARSERS: dict[str, Callable[[str], Parsed]] = {
    "claude-code": claude_code.parse_file, "copilot": copilot.parse_ndjson,
    "cursor": cursor.parse_file, "openai": openai_usage.parse_file}
Progress = Callable[[int, int], None]


@dataclass
class PullResult:
    """One pull or import: its window, timing and outcome, and the sum of what its rows
    came to (`add`); kept in Redis as JSON (`last_results`) for App Home and the CLI."""

    source: str
    since: str = ""
    until: str = ""
    started: float = 0.0
    finished: float = 0.0
    rows: int = 0          # rows read
    changed: int = 0       # rows that changed totals (new, or a corrected day)
    unchanged: int = 0     # rows the same as last time
    people: int = 0
    days: int = 0
    unmapped: list[str] = field(default_factory=list)
    withdrawn: int = 0     # rows the vendor no longer reports: set to zero
    rejected: int = 0
    rejects: list[str] = field(default_factory=list)
    error: str = ""
    skipped: str = ""
    resumed_from: str = ""
    no_data: list[str] = field(default_factory=list)  # days the vendor has no report for
    dry_run: bool = False
    _people: set = field(default_factory=set, repr=False)
    _days: set = field(default_factory=set, repr=False)

    @property
    def ok(self) -> bool:
        return not self.error and not self.skipped

    def reject(self, reasons: list[str]) -> None:
        self.rejected += len(reasons)
        self.rejects += reasons[:max(0, MAX_REJECTS - len(self.rejects))]

    def add(self, counted: Counted) -> None:
        """What one `count` of rows came to: each counted row changed totals, each
        duplicate is the same as last time."""
        self.changed += counted.counted
        self.unchanged += len(counted.duplicates)

    def as_json(self) -> str:
        data = {k: v for k, v in asdict(self).items() if not k.startswith("_")}
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str | bytes) -> PullResult:
        return cls(**json.loads(text))

    def no_data_text(self) -> str:
        """The days the vendor had no report for, short."""
        days = sorted(self.no_data)
        if len(days) == 1:
            return f"the vendor has no report for {days[0]}"
        return (f"the vendor has no report for {len(days)} days between {days[0]} and "
                f"{days[-1]}")

    def summary(self) -> list[str]:
        """What happened, for the command line and App Home."""
        what = "would count" if self.dry_run else "counted"
        window = f" {self.since} to {self.until}" if self.since else ""
        lines = [f"{self.source}{window}: {self.rows:,} rows, {self.people:,} people, "
                 f"{self.days:,} days; {what} {self.changed:,} (new or changed), "
                 f"{self.unchanged:,} unchanged"]
        if self.withdrawn:
            lines.append(f"withdrawn: {self.withdrawn:,} rows reported before and no longer "
                         "(set to zero)")
        if self.no_data:
            lines.append(f"no data: {self.no_data_text()} (nothing counted, the days are done)")
        if self.resumed_from:
            lines.append(f"resumed from {self.resumed_from}, where an earlier pull stopped")
        if self.unmapped:
            more = f" and {len(self.unmapped) - 10} more" if len(self.unmapped) > 10 else ""
            lines.append(f"unmapped identities ({len(self.unmapped)}, kept until linked with "
                         f"tokenboard identities link U… IDENTITY): "
                         f"{', '.join(self.unmapped[:10])}{more}")
        if self.rejected:
            lines.append(f"rejected rows: {self.rejected}")
            lines += [f"  {reason}" for reason in self.rejects]
        if self.skipped:
            lines.append(f"skipped: {self.skipped}")
        if self.error:
            lines.append(f"failed: {self.error}")
        return lines


def default_window(today: date) -> tuple[date, date]:
    """The scheduled pull's window: the last LOOKBACK_DAYS days up to yesterday (UTC)."""
    return today - timedelta(days=LOOKBACK_DAYS), today - timedelta(days=1)


def row_usage(source: str, row: DailyRow) -> Usage:
    """A vendor's daily row in the counting model: it replaces what `source` said before
    for the row's identity and calendar day."""
    return Usage(id="", ts=datetime.combine(row.day, dtime(12), UTC), fields=row.fields,
                 row=f"{source}|{row.identity}", day=row.day)


def record_rows(store: Store, identities: Identities, source: str, rows: list[DailyRow],
                result: PullResult, dry_run: bool = False, today: date | None = None) -> None:
    """Count `rows` (each replacing the source's earlier row for its identity and day)
    and add what they came to to `result`."""
    now = datetime.combine(today, dtime(), UTC) if today else datetime.now(UTC)
    kept: list[DailyRow] = []
    for row in rows:
        outside = outside_window(row.day, now, store.retention_days)
        if outside == "future":
            result.reject([f"{row.identity} {row.day}: a day in the future"])
        elif outside == "old":
            result.reject([f"{row.identity} {row.day}: older than the "
                           f"{store.retention_days}-day retention window"])
        else:
            kept.append(row)
    for start in range(0, len(kept), BATCH):
        batch = kept[start:start + BATCH]
        who = identities.resolve_many([row.identity for row in batch])
        result.rows += len(batch)
        for row, person in zip(batch, who, strict=True):
            result._people.add(person)
            result._days.add(row.day)
            if is_identity(person) and person not in result.unmapped:
                result.unmapped.append(person)
        if dry_run:
            result.changed += len(batch)
            continue
        items = [(i, row_usage(source, row), person)
                 for i, (row, person) in enumerate(zip(batch, who, strict=True))]
        result.add(count(store, items, f"pull:{source}"))
    result.people, result.days = len(result._people), len(result._days)


def withdraw(store: Store, identities: Identities, source: str, rows: list[DailyRow],
             result: PullResult) -> None:
    """A pull's answer for a day is the whole day: an identity the source reported on that
    day before and no longer is set to zero. A day answered with no rows at all is left
    alone (a vendor still processing it, or a glitch, must not wipe it)."""
    present: dict[date, set[str]] = {}
    for row in rows:
        present.setdefault(row.day, set()).add(row.identity)
    days = sorted(present)
    if not days:
        return
    before = store.pulls.reported(source, days)
    gone = [DailyRow(who, day, ()) for day in days for who in sorted(before[day])
            if who not in present[day]]
    if gone:
        scratch = PullResult(source)
        record_rows(store, identities, source, gone, scratch)
        result.withdrawn += scratch.changed
    ttl = (store.retention_days + 2) * 86400
    store.pulls.set_reported(source, {day: present[day] for day in days}, ttl)


def unfinished(store: Store, source: str) -> date | None:
    """The first day an unfinished pull of `source` did not get to, if one stopped."""
    saved = store.pulls.resume(source)
    return date.fromisoformat(json.loads(saved)["next"]) if saved else None


def owner_problem(store: Store, source: str) -> str:
    """Why `source` must not count its tool now ('' when it may)."""
    tool = TOOLS[source]
    config = store.configs.load()
    if counts(store, config, tool, source, fresh=True):
        return ""
    holder = config.tool_sources.get(tool) or store.pulls.tool_source(tool)
    return (f"{tool} usage counts from {LABELS.get(holder, holder)}, not from {source}, so "
            f"nothing counts twice; to switch, set tool_sources: {{{tool}: {source}}} in the "
            "configuration (tokenboard config import)")


def run_pull(store: Store, identities: Identities, connector: Connector, since: date,
             until: date, dry_run: bool = False, progress: Progress | None = None,
             today: date | None = None) -> PullResult:
    """Pull `since`..`until` (UTC calendar days) from `connector` and count it."""
    source = connector.source
    result = PullResult(source, since.isoformat(), until.isoformat(), started=time.time(),
                        dry_run=dry_run)
    start = since
    try:
        if not dry_run:
            result.skipped = owner_problem(store, source)
            saved = store.pulls.resume(source)
            if saved and not result.skipped:
                resume = json.loads(saved)
                if ((resume["since"], resume["until"]) == (result.since, result.until)
                        and resume["next"] > result.since):
                    start = date.fromisoformat(resume["next"])
                    result.resumed_from = resume["next"]
        total = (until - since).days + 1

        def save(next_day: date) -> None:  # where this pull picks up if it stops
            store.pulls.save_resume(source, json.dumps({
                "since": result.since, "until": result.until, "next": next_day.isoformat()}))

        if not result.skipped:
            if not dry_run:
                save(start)
            if progress:
                progress((start - since).days, total)
            for chunk in connector.chunks(start, until):
                if chunk.no_data:
                    result.no_data += [day.isoformat() for day in chunk.days]
                result.reject(chunk.parsed.rejects)
                record_rows(store, identities, source, chunk.parsed.rows, result, dry_run,
                            today)
                if not dry_run:
                    withdraw(store, identities, source, chunk.parsed.rows, result)
                    save(chunk.days[-1] + timedelta(days=1))
                if progress:
                    progress((chunk.days[-1] - since).days + 1, total)
            if not dry_run:
                store.pulls.clear_resume(source)
    except (PullFailed, ScoringChanged, LookupUnavailable) as exc:
        result.error = str(exc)
    except redis.RedisError as exc:
        result.error = f"Redis: {exc}"
    finally:
        connector.close()
    result.finished = time.time()
    if not dry_run:
        try:
            store.pulls.save_last(source, result.as_json())
        except redis.RedisError:
            pass
    return result


def run_import(store: Store, identities: Identities, source: str, text: str,
               dry_run: bool = False, progress: Progress | None = None) -> PullResult:
    """Count a downloaded report of `source` (the same rows as a pull: the later wins)."""
    result = PullResult(source, started=time.time(), dry_run=dry_run)
    try:
        parsed = PARSERS[source](text)
    except (ValueError, KeyError, TypeError) as exc:
        result.error = f"the file cannot be read as a {source} report: {exc}"
        return result
    result.reject(parsed.rejects)
    if not dry_run:
        result.skipped = owner_problem(store, source)
        if result.skipped:
            return result
    rows = sorted(parsed.rows, key=lambda r: r.day)
    try:
        for start in range(0, len(rows), BATCH * 5):
            record_rows(store, identities, source, rows[start:start + BATCH * 5], result,
                        dry_run)
            if progress:
                progress(min(len(rows), start + BATCH * 5), len(rows))
    except (ScoringChanged, LookupUnavailable) as exc:
        result.error = str(exc)
    except redis.RedisError as exc:
        result.error = f"Redis: {exc}"
    if result._days:
        result.since, result.until = min(result._days).isoformat(), max(result._days).isoformat()
    result.finished = time.time()
    return result


def last_results(store: Store, sources: list[str]) -> dict[str, PullResult]:
    """The last pull's result of each source that has one."""
    return {s: PullResult.from_json(raw) for s, raw in store.pulls.last(sources).items()}


__all__ = ["PullResult", "days_between", "default_window", "last_results", "record_rows",
           "run_import", "run_pull"]
