"""What each vendor is asked, in its own paths, and how the answers become rows
(through its wire-format module in `bot.sources`). Each connector yields chunks: the
rows of whole days, in day order, so the runner can count a chunk and move its resume
point past those days.

Request rates (`RATES`): every request to a vendor's API is paced under the vendor's
documented rate (a `Pacer` in `bot.connectors.http`), or under `DEFAULT_RATE` where the
vendor documents none.

404: only GitHub's Copilot usage metrics API answers 404 for a day it has no report for;
that day is an empty day (`Chunk.no_data`), once the organization itself answers. Everywhere
else a 404 is a wrong path, base URL or organization, and fails the pull."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Any

from bot.connectors.http import Pacer, PullFailed, VendorHTTP
from bot.core.settings import Settings, SettingsError
from bot.sources import claude_code, copilot, cursor, openai_usage
from bot.sources.daily import Parsed, merge

SOURCES = ("claude-code", "copilot", "cursor", "openai")
# the tool each source reports, named as OpenTelemetry and /ingest name it
TOOLS = {"claude-code": "claude_code", "copilot": "copilot", "cursor": "cursor",
         "openai": "openai"}
CLAUDE_PAGE = 1000
CURSOR_PAGE = 500
OPENAI_BUCKETS = 31  # the most 1d buckets one usage page holds
PULL_HOUR = 2  # UTC: the vendors have the day before ready by then (the daily pull)


@dataclass(frozen=True)
class Rate:
    requests: int   # at most this many requests …
    per: float      # … in any window of this many seconds
    documented: bool  # the vendor's own figure (False: our conservative default)


DEFAULT_RATE = Rate(30, 60.0, documented=False)
RATES: dict[str, Rate] = {
    "claude-code": DEFAULT_RATE,               # Anthropic documents no figure for it
    "copilot": Rate(5000, 3600.0, documented=True),  # GitHub REST: 5,000 an hour per token
    "cursor": Rate(20, 60.0, documented=True),  # Cursor Admin API: 20 a minute per team
    "openai": DEFAULT_RATE,                    # OpenAI documents no figure for it
}


@dataclass
class Chunk:
    days: list[date]                       # the days this chunk covers, wholly
    parsed: Parsed = field(default_factory=Parsed)
    no_data: bool = False                  # the vendor has no report for these days


def days_between(since: date, until: date) -> Iterator[date]:
    day = since
    while day <= until:
        yield day
        day += timedelta(days=1)


def _epoch(day: date) -> int:
    return int(datetime.combine(day, dtime(), UTC).timestamp())


class Connector:
    source = ""

    def __init__(self, http: VendorHTTP) -> None:
        self.http = http

    def chunks(self, since: date, until: date) -> Iterator[Chunk]:
        raise NotImplementedError

    def close(self) -> None:
        self.http.close()

    def _paged(self, days: list[date], path: str, params: dict[str, object],
               parse: Callable[[Any], tuple[Parsed, str | None]]) -> Chunk:
        """Every page of a cursor-paged GET (`page` = the previous answer's `next_page`)."""
        chunk, cursor_ = Chunk(days), None
        while True:
            answer = self.http.json("GET", path, params={**params, **(
                {"page": cursor_} if cursor_ else {})})
            try:
                parsed, cursor_ = parse(answer)
            except ValueError as exc:
                raise PullFailed(f"{self.source}: {exc}") from None
            chunk.parsed.extend(parsed)
            if not cursor_:
                chunk.parsed.rows = merge(chunk.parsed.rows)
                return chunk


class ClaudeCode(Connector):
    source = claude_code.SOURCE

    def chunks(self, since: date, until: date) -> Iterator[Chunk]:
        for day in days_between(since, until):  # the API answers one day per request
            yield self._paged([day], "/v1/organizations/usage_report/claude_code",
                              {"starting_at": day.isoformat(), "limit": CLAUDE_PAGE},
                              lambda answer, day=day: claude_code.parse_page(answer, f"{day}"))


class Copilot(Connector):
    source = copilot.SOURCE

    def __init__(self, http: VendorHTTP, org: str) -> None:
        super().__init__(http)
        self.org = org
        self.org_seen = False

    def _org_answers(self, day: date, said: PullFailed) -> None:
        """The day's report answered 404: GitHub's answer for a day it has no report for,
        and also for an organization that does not exist or the token cannot see. The day
        is empty only if the organization itself answers; PullFailed otherwise."""
        if self.org_seen:
            return
        try:
            self.http.request("GET", f"/orgs/{self.org}")
        except PullFailed as exc:
            raise PullFailed(
                f"copilot {day}: HTTP 404 for the day's report, and the organization "
                f"{self.org!r} does not answer either: check COPILOT_ORG, GITHUB_API_URL and "
                f"the token's access ({exc})", exc.status) from None
        self.org_seen = True

    def chunks(self, since: date, until: date) -> Iterator[Chunk]:
        for day in days_between(since, until):
            try:
                answer = self.http.json(
                    "GET", f"/orgs/{self.org}/copilot/metrics/reports/users-1-day",
                    params={"day": day.isoformat()})
            except PullFailed as exc:
                if exc.status != 404:
                    raise
                self._org_answers(day, exc)
                yield Chunk([day], no_data=True)
                continue
            self.org_seen = True
            try:
                links = copilot.download_links(answer)
            except ValueError as exc:
                raise PullFailed(f"copilot {day}: {exc}") from None
            chunk = Chunk([day])
            for number, link in enumerate(links, start=1):
                text = self.http.request("GET", link, signed_url=True).text
                chunk.parsed.extend(copilot.parse_ndjson(text, f"{day} file {number}"))
            chunk.parsed.rows = merge(chunk.parsed.rows)
            yield chunk


class Cursor(Connector):
    source = cursor.SOURCE

    def chunks(self, since: date, until: date) -> Iterator[Chunk]:
        start = since
        while start <= until:
            end = min(until, start + timedelta(days=cursor.MAX_DAYS - 1))
            window = {"startDate": _epoch(start) * 1000,
                      "endDate": _epoch(end + timedelta(days=1)) * 1000 - 1}
            chunk = Chunk(list(days_between(start, end)))
            try:
                chunk.parsed.extend(cursor.parse_daily(
                    self.http.json("POST", "/teams/daily-usage-data", json=window)))
                page = 1
                while True:
                    answer = self.http.json("POST", "/teams/filtered-usage-events",
                                            json={**window, "page": page,
                                                  "pageSize": CURSOR_PAGE})
                    parsed, more = cursor.parse_events(answer, f"usage events page {page}")
                    chunk.parsed.extend(parsed)
                    if not more:
                        break
                    page += 1
            except ValueError as exc:
                raise PullFailed(f"cursor: {exc}") from None
            chunk.parsed.rows = [r for r in merge(chunk.parsed.rows) if start <= r.day <= end]
            yield chunk
            start = end + timedelta(days=1)


class OpenAI(Connector):
    source = openai_usage.SOURCE

    def _emails(self) -> dict[str, str]:
        emails: dict[str, str] = {}
        after: str | None = None
        while True:
            params: dict[str, object] = {"limit": 100}
            if after:
                params["after"] = after
            try:
                page, after = openai_usage.user_emails(
                    self.http.json("GET", "/v1/organization/users", params=params))
            except ValueError as exc:
                raise PullFailed(f"openai: {exc}") from None
            emails.update(page)
            if not after:
                return emails

    def chunks(self, since: date, until: date) -> Iterator[Chunk]:
        emails = self._emails()
        start = since
        while start <= until:  # one request window per page of buckets, so each chunk
            end = min(until, start + timedelta(days=OPENAI_BUCKETS - 1))  # is whole days
            params = {"start_time": _epoch(start), "end_time": _epoch(end + timedelta(days=1)),
                      "bucket_width": "1d", "group_by": "user_id,model",
                      "limit": OPENAI_BUCKETS}
            yield self._paged(list(days_between(start, end)),
                              "/v1/organization/usage/completions", params,
                              lambda answer, at=start: openai_usage.parse_page(answer, emails,
                                                                               f"{at}"))
            start = end + timedelta(days=1)


def configured(settings: Settings) -> list[str]:
    """The sources whose keys are set, in the order SOURCES names them."""
    keys = {"claude-code": settings.anthropic_admin_key,
            "copilot": settings.github_token and settings.copilot_org,
            "cursor": settings.cursor_admin_key, "openai": settings.openai_admin_key}
    return [s for s in SOURCES if keys[s]]


def pacer(source: str, clock: Callable[[], float] = time.monotonic,
          sleep: Callable[[float], None] = time.sleep) -> Pacer:
    """A pacer at `source`'s rate (one request at a time, evenly spaced)."""
    rate = RATES[source]
    return Pacer(rate.requests, rate.per, clock=clock, sleep=sleep)


def build(settings: Settings, source: str, sleep: Callable[[float], None] = time.sleep,
          clock: Callable[[], float] = time.monotonic,
          pace: Pacer | None = None) -> Connector:
    """The connector of `source`; SettingsError naming the variable that is unset.

    `sleep` waits out retries and, unless `pace` is given, the pacing at `source`'s rate
    (measured by `clock`)."""
    if source not in RATES:
        raise SettingsError(f"{source!r} is not a source; use one of {', '.join(SOURCES)}")
    pace = pace or pacer(source, clock, sleep)
    if source == "claude-code":
        settings.require("ANTHROPIC_ADMIN_KEY")
        return ClaudeCode(VendorHTTP(source, settings.anthropic_api_url, sleep=sleep, pacer=pace,
                                     headers={
            "x-api-key": settings.anthropic_admin_key, "anthropic-version": "2023-06-01"}))
    if source == "copilot":
        settings.require("GITHUB_TOKEN", "COPILOT_ORG")
        return Copilot(VendorHTTP(source, settings.github_api_url, sleep=sleep, pacer=pace,
                                  headers={
            "Authorization": f"Bearer {settings.github_token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28"}), settings.copilot_org)
    if source == "cursor":
        settings.require("CURSOR_ADMIN_KEY")
        return Cursor(VendorHTTP(source, settings.cursor_api_url, sleep=sleep, pacer=pace,
                                 auth=(settings.cursor_admin_key, "")))
    if source == "openai":
        settings.require("OPENAI_ADMIN_KEY")
        return OpenAI(VendorHTTP(source, settings.openai_api_url, sleep=sleep, pacer=pace,
                                 headers={
            "Authorization": f"Bearer {settings.openai_admin_key}"}))
    raise SettingsError(f"{source!r} is not a source; use one of {', '.join(SOURCES)}")
