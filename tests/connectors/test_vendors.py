"""Copilot, Cursor and OpenAI reports pulled from local stubs of their APIs (and Copilot's
imported from a file): pages, windows, corrections replaced, bad rows refused with
reasons, a wrong key, a vendor row's own date; exact totals against the stubs' data.
"""

from __future__ import annotations

import copy
import json
from datetime import date, timedelta

import pytest

from bot.connectors.runner import run_import
from bot.core.periods import ALL
from bot.runtime.deps import Deps
from bot.sources.copilot import records as copilot_records
from tests.support.connector_pulls import (
    D1,
    D2,
    D3,
    KEY,
    TODAY,
    board,
    claude_record,
    copilot_record,
    pull,
)
from tests.support.vendor_reports import COPILOT_REPORT, github_docs_example
from tests.vendor_stubs import ClaudeStub, CopilotStub, CursorStub, OpenAIStub, ms


def test_copilot_pull_downloads_ndjson_and_replaces(deps: Deps, people) -> None:
    server = CopilotStub("ghp_test", "acme", files=2)
    try:
        deps.identities.link("U0ANA", "github:ana-gh")
        server.data = {D1: [copilot_record("ana-gh", D1, 100, 50),
                            copilot_record("stranger", D1, 7, 3)],
                       D2: [copilot_record("Ana-GH", D2, 10, 20)]}
        server.fail("users-1-day", 503, times=2)  # no Retry-After: backs off
        sleeps: list[float] = []
        settings = {"github_token": "ghp_test", "copilot_org": "acme",
                    "github_api_url": server.url}
        result = pull(deps, "copilot", D1, D2, sleeps, **settings)
        assert result.ok, result.summary()
        assert len(sleeps) == 2 and len(server.seen("/download/")) == 4
        assert result.unmapped == ["github:stranger"]
        ana = deps.store.reads.day_counts(D1, "U0ANA")
        assert (ana["tokens"], ana["input_tokens"], ana["output_tokens"]) == (150, 100, 50)
        assert ana["requests"] == 1 + 2 + 3
        assert board(deps, "tokens", ALL, "U0ANA") == 150 + 30
        server.data[D1][0] = copilot_record("ana-gh", D1, 20, 5, interactions=0)
        assert pull(deps, "copilot", D1, D2, **settings).changed == 1
        assert deps.store.reads.day_counts(D1, "U0ANA")["requests"] == 5
        assert board(deps, "tokens", ALL, "U0ANA") == 25 + 30
    finally:
        server.close()


def import_twice_then_a_correction(deps: Deps, text: str) -> None:
    """`text` (a report as NDJSON or a JSON list) imported, imported again as NDJSON (the
    same rows: nothing more counts), then with its first row corrected (it replaces)."""
    records = [record for _, record in copilot_records(text)]
    first = records[0]
    day = date.fromisoformat(first["day"])
    deps.store.retention_days = (TODAY - min(date.fromisoformat(r["day"]) for r in records)
                                 ).days + 30
    deps.identities.link("U0ANA", f"github:{first['user_login']}")
    result = run_import(deps.store, deps.identities, "copilot", text)
    assert result.ok and result.rows == len(records) and not result.rejects
    usage = first["totals_by_cli"]["token_usage"]
    expected = usage["prompt_tokens_sum"] + usage["output_tokens_sum"]
    assert deps.store.reads.day_counts(day, "U0ANA")["tokens"] == expected
    # importing again, or as NDJSON, is the same row: nothing more counts
    ndjson = "".join(json.dumps(r) + "\n" for r in records)
    again = run_import(deps.store, deps.identities, "copilot", ndjson)
    assert (again.changed, again.unchanged) == (0, len(records))
    # a corrected copy replaces it
    fixed = copy.deepcopy(records)
    fixed[0]["totals_by_cli"]["token_usage"]["output_tokens_sum"] += 1000
    run_import(deps.store, deps.identities, "copilot", json.dumps(fixed))
    assert deps.store.reads.day_counts(day, "U0ANA")["tokens"] == expected + 1000


def test_copilot_import_of_a_report_and_a_pull_are_the_same_row(deps: Deps) -> None:
    text = COPILOT_REPORT.read_text()
    import_twice_then_a_correction(deps, text)
    # jpark-dev (linked as U0ANA): 22083 + 4116 (+ the correction's 1000), then 8480 + 1870;
    # Mara-Okafor is not linked yet
    assert board(deps, "tokens", ALL, "U0ANA") == 26199 + 1000 + 10350
    day = date(2025, 10, 6)
    counts = deps.store.reads.day_counts(day, "U0ANA")
    # requests: IDE interactions 5 + generated code 41 + CLI requests 9; sessions: CLI's
    assert (counts["requests"], counts["sessions"]) == (5 + 41 + 9, 2)
    assert (counts["input_tokens"], counts["output_tokens"]) == (22083, 4116 + 1000)


@pytest.mark.reference
def test_copilot_import_of_githubs_example_and_a_pull_are_the_same_row(deps: Deps) -> None:
    example = github_docs_example().read_text()
    import_twice_then_a_correction(deps, example)
    records = json.loads(example)
    usage = records[0]["totals_by_cli"]["token_usage"]
    assert board(deps, "tokens", ALL, "U0ANA") == (
        usage["prompt_tokens_sum"] + usage["output_tokens_sum"] + 1000)


def test_import_rejects_bad_rows_with_reasons(deps: Deps) -> None:
    good = copilot_record("ana-gh", D1, 1, 1)
    text = "\n".join(['{"user_login": "x", "day": "2025-13-01"}', "not json",
                      '{"day": "2025-10-01"}', json.dumps(good)])
    result = run_import(deps.store, deps.identities, "copilot", text)
    assert result.rows == 1 and result.rejected == 3
    assert any("line 1" in r and "does not exist" in r for r in result.rejects)
    assert any("line 2" in r and "not JSON" in r for r in result.rejects)
    assert any("line 3" in r and "no github identity" in r for r in result.rejects)


# -- Cursor ---------------------------------------------------------------------------------

def test_cursor_pull_windows_pages_and_replaces(deps: Deps, people) -> None:
    server = CursorStub("crsr_test", page_size=3)
    try:
        since = TODAY - timedelta(days=40)  # two windows: 30 days, then the rest
        days = [since + timedelta(days=n) for n in (0, 29, 30, 35)]
        server.daily = [{"date": ms(d), "email": "ana@example.com", "isActive": True,
                         "agentRequests": 2, "chatRequests": 1, "composerRequests": 1,
                         "cmdkUsages": 1, "totalLinesAdded": 9, "totalAccepts": 1}
                        for d in days]
        server.events = [{"timestamp": str(ms(d) + 3_600_000 * h), "userEmail":
                          "ana@example.com", "model": "claude", "kind": "Usage-based",
                          "tokenUsage": {"inputTokens": 10, "outputTokens": 5,
                                         "cacheWriteTokens": 1, "cacheReadTokens": 4,
                                         "totalCents": 2.5}}
                         for d in days for h in range(4)]
        settings = {"cursor_admin_key": "crsr_test", "cursor_api_url": server.url}
        result = pull(deps, "cursor", since, TODAY - timedelta(days=1), **settings)
        assert result.ok, result.summary()
        assert len(server.seen("daily-usage-data")) == 2
        for d in days:
            counts = deps.store.reads.day_counts(d, "U0ANA")
            assert (counts["tokens"], counts["requests"]) == (4 * 20, 5)
            assert counts["cost"] == pytest.approx(0.10)
        server.events = [e for e in server.events if int(e["timestamp"]) >= ms(days[1])]
        assert pull(deps, "cursor", since, TODAY - timedelta(days=1), **settings).changed == 1
        assert deps.store.reads.day_counts(days[0], "U0ANA")["tokens"] == 0
        assert board(deps, "tokens", ALL, "U0ANA") == 3 * 80
    finally:
        server.close()


# -- OpenAI ---------------------------------------------------------------------------------

def test_openai_pull_maps_users_and_never_adds_cached_twice(deps: Deps, people) -> None:
    server = OpenAIStub("sk-admin", page_buckets=2, page_users=1)
    try:
        server.users = [{"object": "organization.user", "id": "user-ana",
                         "email": "ana@example.com"},
                        {"object": "organization.user", "id": "user-zed", "email": ""}]
        result_of = lambda user, inp, out, model="gpt-4o": {  # noqa: E731
            "object": "organization.usage.completions.result", "user_id": user,
            "model": model, "input_tokens": inp, "output_tokens": out,
            "input_cached_tokens": inp // 2, "num_model_requests": 3}
        server.buckets = {D1: [result_of("user-ana", 100, 10), result_of("user-ana", 5, 5,
                                                                          "o3")],
                          D2: [result_of("user-zed", 1, 1), result_of(None, 9, 9)],
                          D3: [result_of("user-ana", 1000, 1)]}
        server.fail("usage/completions", 429, times=1, retry_after="3")
        sleeps: list[float] = []
        settings = {"openai_admin_key": "sk-admin", "openai_api_url": server.url}
        result = pull(deps, "openai", D1, D3, sleeps, **settings)
        assert result.ok, result.summary()
        assert sleeps == [3.0] and len(server.seen("/users")) == 2
        assert result.unmapped == ["openai-user:user-zed"] and result.rejected == 1
        assert deps.store.reads.day_counts(D1, "U0ANA")["tokens"] == 120
        assert deps.store.reads.day_counts(D1, "U0ANA")["requests"] == 6
        assert board(deps, "tokens", ALL, "U0ANA") == 120 + 1001
        server.buckets[D3] = [result_of("user-ana", 500, 1)]
        assert pull(deps, "openai", D1, D3, **settings).changed == 1
        assert board(deps, "tokens", ALL, "U0ANA") == 120 + 501
    finally:
        server.close()


def test_a_wrong_key_fails_with_the_vendors_message(deps: Deps, claude: ClaudeStub) -> None:
    result = pull(deps, "claude-code", D1, D1, anthropic_admin_key="nope",
                  anthropic_api_url=claude.url)
    assert not result.ok and "HTTP 401" in result.error and "bad x-api-key" in result.error
    assert len(claude.requests) == 1  # a 401 is not retried


def test_a_vendor_row_counts_on_its_own_date_whatever_the_time_zone(
        deps: Deps, people, claude: ClaudeStub) -> None:
    from zoneinfo import ZoneInfo

    deps.store.tz = ZoneInfo("Pacific/Kiritimati")  # UTC+14: noon UTC is the next local day
    claude.data = {D1: [claude_record(D1, (1, 2, 3, 4), 1, email="ana@example.com")]}
    pull(deps, "claude-code", D1, D1, anthropic_admin_key=KEY, anthropic_api_url=claude.url)
    assert deps.store.reads.day_counts(D1, "U0ANA")["tokens"] == 10
    assert deps.store.reads.day_counts(D1 + timedelta(days=1), "U0ANA") == {}
