"""A vendor's "no data" (Copilot's 404 for a day without a report, and any other 404)
and a vendor's rate: a long Cursor pull paced under its limit, a 429 still waited out, the
pacer's windows.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest

from bot.core.periods import ALL
from bot.runtime.deps import Deps
from tests.support.connector_pulls import (
    D1,
    D2,
    D3,
    KEY,
    TODAY,
    FakeClock,
    board,
    copilot_record,
    pull,
)
from tests.vendor_stubs import ClaudeStub, CopilotStub, CursorStub, OpenAIStub, ms

# -- a vendor's "no data" and a vendor's rate --------------------------------------------------

def most_in_a_window(times: list[float], window: float) -> int:
    """The most requests in any closed window of `window` seconds."""
    times = sorted(times)
    return max(sum(1 for u in times if t <= u <= t + window) for t in times)


def test_copilot_404_for_a_day_without_a_report_is_an_empty_day(deps: Deps, people) -> None:
    from bot.connectors.status import status_lines

    server = CopilotStub("ghp_test", "acme", files=1)
    try:
        deps.identities.link("U0ANA", "github:ana-gh")
        server.data = {D1: [copilot_record("ana-gh", D1, 100, 50)],
                       D3: [copilot_record("ana-gh", D3, 1, 2)]}
        server.missing = {D2}
        settings = {"github_token": "ghp_test", "copilot_org": "acme",
                    "github_api_url": server.url}
        result = pull(deps, "copilot", D1, D3, **settings)
        assert result.ok and not result.error, result.summary()
        assert result.no_data == [D2.isoformat()]
        assert any(line.startswith("no data:") and D2.isoformat() in line
                   for line in result.summary())
        assert deps.store.reads.day_counts(D2, "U0ANA") == {}  # counts nothing
        assert board(deps, "tokens", ALL, "U0ANA") == 150 + 3  # the other days count
        assert deps.store.pulls.resume("copilot") is None  # every day done, D2 included
        assert len(server.seen("/orgs/acme")) == 3  # no extra org check: D1 answered
        deps.settings = replace(deps.settings, **settings)
        home = "\n".join(status_lines(deps))
        assert "no data: the vendor has no report for " + D2.isoformat() in home
        assert "stopped" not in home and "warning" not in home

        # a window that starts on the missing day checks the organization once
        before = len(server.requests)
        only = pull(deps, "copilot", D2, D2, **settings)
        assert only.ok and only.no_data == [D2.isoformat()] and only.rows == 0
        assert [r.path for r in server.requests[before:]] == [
            "/orgs/acme/copilot/metrics/reports/users-1-day", "/orgs/acme"]

        # the report arrives later: the same day counts then
        server.missing.clear()
        server.data[D2] = [copilot_record("ana-gh", D2, 10, 10)]
        later = pull(deps, "copilot", D2, D2, **settings)
        assert later.ok and later.no_data == [] and later.changed == 1
        assert deps.store.reads.day_counts(D2, "U0ANA")["tokens"] == 20
    finally:
        server.close()


def test_a_404_anywhere_else_is_an_error(deps: Deps, people, claude: ClaudeStub) -> None:
    server = CopilotStub("ghp_test", "acme", files=1)
    try:  # Copilot: a wrong organization answers 404 for the report and for itself
        server.data = {D1: [copilot_record("ana-gh", D1, 1, 1)]}
        wrong = pull(deps, "copilot", D1, D1, github_token="ghp_test",
                     copilot_org="acme-typo", github_api_url=server.url)
        assert not wrong.ok and wrong.no_data == []
        assert "HTTP 404" in wrong.error and "'acme-typo' does not answer" in wrong.error
        assert deps.store.pulls.resume("copilot")  # not done: resumes at D1
    finally:
        server.close()
    # Claude Code: a 404 is a wrong path or base URL, never a day without data
    claude.fail("usage_report", 404, times=1)
    failed = pull(deps, "claude-code", D1, D1, anthropic_admin_key=KEY,
                  anthropic_api_url=claude.url)
    assert not failed.ok and "HTTP 404" in failed.error and failed.no_data == []
    assert len(claude.requests) == 1  # not retried either
    # Cursor and OpenAI: the same
    cursor_stub, openai_stub = CursorStub("crsr_test"), OpenAIStub("sk-admin")
    try:
        cursor_stub.fail("daily-usage-data", 404)
        openai_stub.fail("/users", 404)
        for source, settings in (
                ("cursor", {"cursor_admin_key": "crsr_test",
                            "cursor_api_url": cursor_stub.url}),
                ("openai", {"openai_admin_key": "sk-admin",
                            "openai_api_url": openai_stub.url})):
            result = pull(deps, source, D1, D1, **settings)
            assert not result.ok and "HTTP 404" in result.error and not result.no_data
    finally:
        cursor_stub.close()
        openai_stub.close()


def cursor_with_pages(events_a_day: int, days: list[date]) -> CursorStub:
    server = CursorStub("crsr_test", page_size=1)  # one request per event page
    server.events = [{"timestamp": str(ms(d) + 60_000 * n), "userEmail": "ana@example.com",
                      "model": "claude", "kind": "Usage-based",
                      "tokenUsage": {"inputTokens": 1, "outputTokens": 1, "totalCents": 1}}
                     for d in days for n in range(events_a_day)]
    return server


def test_a_long_cursor_pull_is_paced_under_20_requests_a_minute(deps: Deps, people) -> None:
    since = TODAY - timedelta(days=45)  # two windows: 30 days, then 15
    days = [since + timedelta(days=n) for n in (1, 10, 20, 31, 40)]
    server = cursor_with_pages(6, days)
    clock = FakeClock()
    server.clock = clock.now
    try:
        sleeps: list[float] = []
        result = pull(deps, "cursor", since, TODAY - timedelta(days=1), sleeps, clock,
                      cursor_admin_key="crsr_test", cursor_api_url=server.url)
        assert result.ok, result.summary()
        assert board(deps, "tokens", ALL, "U0ANA") == 5 * 6 * 2
        at = [r.at for r in server.requests]
        n = len(at)
        assert n == (1 + 18) + (1 + 12)  # per window: daily usage, then one page an event
        assert most_in_a_window(at, 60.0) <= 20
        gaps = [b - a for a, b in zip(at, at[1:], strict=False)]
        assert min(gaps) == pytest.approx(60 / 19)  # evenly spaced, never a burst
        assert clock.t == pytest.approx((n - 1) * 60 / 19)  # the (fake) time it takes
        assert sleeps == []  # no 429, no retry
    finally:
        server.close()


def test_a_429_is_still_waited_out_while_paced(deps: Deps, people) -> None:
    since = TODAY - timedelta(days=5)
    server = cursor_with_pages(25, [since])
    clock = FakeClock()
    server.clock = clock.now
    try:
        server.fail("filtered-usage-events", 429, times=1, retry_after="60")
        sleeps: list[float] = []
        result = pull(deps, "cursor", since, TODAY - timedelta(days=1), sleeps, clock,
                      cursor_admin_key="crsr_test", cursor_api_url=server.url)
        assert result.ok, result.summary()
        assert sleeps == [60.0]  # Retry-After honoured
        assert board(deps, "tokens", ALL, "U0ANA") == 25 * 2
        at = [r.at for r in server.requests]
        assert len(at) == 1 + 1 + 25  # daily, the 429, 25 event pages
        assert most_in_a_window(at, 60.0) <= 20  # the retried request was paced too
    finally:
        server.close()


@pytest.mark.parametrize(("rate", "burst"), [(20, 1), (20, 5), (30, 29)])
def test_the_pacer_keeps_any_window_under_its_rate(rate: int, burst: int) -> None:
    from bot.connectors.http import Pacer

    clock = FakeClock()
    pacer = Pacer(rate, 60.0, burst=burst, clock=clock.now, sleep=clock.pace)
    times = []
    for n in range(100):
        if n % 17 == 0:
            clock.t += 7.5  # other work between requests
        pacer.take()
        times.append(clock.t)
    assert most_in_a_window(times, 60.0) <= rate
    assert most_in_a_window(times, 0.0) <= burst
    early = FakeClock()  # a sleep that returns at once still never lets more through
    hasty = Pacer(rate, 60.0, burst=burst, clock=early.now, sleep=lambda s: None)
    assert sum(hasty.take() for _ in range(rate + 1)) == pytest.approx(
        (rate + 1 - burst) * 60 / (rate - burst))
