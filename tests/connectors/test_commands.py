"""`tokenboard pull` and `tokenboard import`, the daily pull across processes (resumed
the next day), OpenTelemetry leaving a tool to its vendor's API, report imports, and App
Home's last pull for admins.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.connectors.runner import run_import
from bot.core.periods import ALL
from bot.runtime.deps import Deps
from tests.support.connector_pulls import (
    D1,
    D2,
    D3,
    KEY,
    TODAY,
    board,
    claude_record,
    pull,
)
from tests.support.vendor_reports import COPILOT_REPORT
from tests.vendor_stubs import ClaudeStub, ms


def tool_fields(day: dict[str, float]) -> dict[str, float]:
    """The per-tool and per-model fields of a day (bot.core.tools)."""
    return {k: v for k, v in day.items() if k[:2] in ("t:", "c:", "m:")}


# -- the commands -----------------------------------------------------------------------------

@pytest.mark.slow
def test_pull_and_import_commands(tmp_path, redis_url: str, stub, people,
                                  claude: ClaudeStub) -> None:
    from tests.conftest import BOT_TOKEN
    from tests.support.cli_runs import run

    env = {"REDIS_URL": redis_url, "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_API_URL": stub.url,
           "ANTHROPIC_ADMIN_KEY": KEY, "ANTHROPIC_API_URL": claude.url}
    claude.data = {D1: [claude_record(D1, (1, 2, 3, 4), 100, email="ana@example.com"),
                        claude_record(D1, (5, 5, 0, 0), 7, key="ci-bot")]}
    days = ["--since", D1.isoformat(), "--until", D1.isoformat()]
    dry = run(["pull", "claude-code", *days, "--dry-run"], env, tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert "would count 2" in dry.stdout and "anthropic-key:ci-bot" in dry.stdout
    done = run(["pull", "claude-code", *days], env, tmp_path)
    assert done.returncode == 0 and "counted 2" in done.stdout, done.stdout + done.stderr
    assert "1/1 days" in done.stderr  # the progress bar
    claude.fail("usage_report", 500, times=100)
    failed = run(["pull", "claude-code", *days], env, tmp_path)
    assert failed.returncode == 1 and "failed: claude-code GET" in failed.stdout
    off = run(["pull", "copilot"], env, tmp_path)
    assert off.returncode == 2 and "GITHUB_TOKEN is not set" in off.stderr
    report = tmp_path / "copilot.ndjson"
    report.write_text(COPILOT_REPORT.read_text())
    imported = run(["import", "copilot", str(report), "--dry-run"], env, tmp_path)
    assert imported.returncode == 0 and "github:jpark-dev" in imported.stdout
    assert "nothing was counted" in imported.stdout
    bad = run(["pull", "claude-code", "--since", "2026-02-30"], env, tmp_path)
    assert bad.returncode == 2 and "2026-02-30" in bad.stderr


# -- the daily schedule and App Home ---------------------------------------------------------

def test_the_daily_pull_runs_once_across_processes_and_resumes(
        deps: Deps, people, claude: ClaudeStub) -> None:
    from bot.connectors.status import status_lines
    from bot.runtime.app import build_deps
    from jobs.pulls import DailyPulls

    settings = replace(deps.settings, anthropic_admin_key=KEY, anthropic_api_url=claude.url)
    first, second = (build_deps(settings, deps.store.r) for _ in range(2))
    now = datetime.combine(TODAY, datetime.min.time(), UTC).replace(hour=3)
    since = TODAY - timedelta(days=3)
    claude.data = {since: [claude_record(since, (1, 1, 1, 1), 100, email="ana@example.com")],
                   TODAY - timedelta(days=1): [claude_record(
                       TODAY - timedelta(days=1), (2, 2, 2, 2), 1, email="ana@example.com")]}
    claude.fail(f"starting_at={TODAY - timedelta(days=2)}", 500, times=100)
    assert DailyPulls(first, sleep=lambda s: None).tick(now)["claude-code"].error
    claude.faults.clear()
    assert "stopped, resumes next time" in "\n".join(status_lines(first))
    results = [DailyPulls(d, sleep=lambda s: None).tick(now) for d in (second, first)]
    assert results[0]["claude-code"].ok and results[1] == {}  # once, across processes
    assert results[0]["claude-code"].resumed_from == (TODAY - timedelta(days=2)).isoformat()
    assert board(deps, "tokens", ALL, "U0ANA") == 4 + 8
    assert DailyPulls(first).tick(now) == {}  # done for today
    lines = "\n".join(status_lines(first))
    assert "claude-code: last pull just now" in lines and "claude_code counts from the " \
        "Claude Code Analytics API" in lines


def test_a_pull_that_stopped_yesterday_is_finished_by_todays(deps: Deps, people,
                                                             claude: ClaudeStub) -> None:
    from jobs.pulls import DailyPulls

    settings = replace(deps.settings, anthropic_admin_key=KEY, anthropic_api_url=claude.url)
    job = DailyPulls(__import__("bot.runtime.app", fromlist=["build_deps"]).build_deps(
        settings, deps.store.r), sleep=lambda s: None)
    yesterday = datetime.combine(TODAY - timedelta(days=1), datetime.min.time(), UTC
                                 ).replace(hour=5)
    first_day = TODAY - timedelta(days=4)  # the first day of yesterday's window
    claude.data = {first_day: [claude_record(first_day, (5, 0, 0, 0), 1,
                                             email="ana@example.com")]}
    claude.fail(f"starting_at={first_day}", 500, times=100)
    assert job.tick(yesterday)["claude-code"].error
    claude.faults.clear()
    result = job.tick(yesterday + timedelta(days=1))["claude-code"]
    assert result.ok and result.since == first_day.isoformat()
    assert deps.store.reads.day_counts(first_day, "U0ANA")["tokens"] == 5


def test_opentelemetry_leaves_claude_code_to_the_api_when_it_holds_the_tool(
        deps: Deps, people) -> None:
    from bot.intake.telemetry import count_points
    from bot.sources.otlp import Decoded, Point

    def export(value: float, point_id: str) -> Decoded:
        now_ns = int(datetime.now(UTC).timestamp() * 1e9)
        return Decoded(points=[Point(
            "claude_code", "tokens", "input", value, False, now_ns - 10**9, now_ns,
            {"user.email": "ana@example.com"}, None, point_id, None)])

    # OpenTelemetry is heard from first: it holds Claude Code
    assert count_points(deps.store, deps.identities, export(100, "s1"), "metrics", "otel").counted
    assert deps.store.r.hget(deps.store.keys.tool_sources(), "claude_code") == b"otlp"
    config = deps.store.configs.load().model_copy(update={"tool_sources":
                                                         {"claude_code": "claude-code"}})
    deps.store.configs.save(config)
    # now the Analytics API counts it, and OpenTelemetry's points are left out
    counted = count_points(deps.store, deps.identities, export(50, "s2"), "metrics", "otel")
    assert counted.counted == 0
    assert board(deps, "tokens", ALL, "U0ANA") == 100


def test_imports_of_claude_code_cursor_and_openai_reports(deps: Deps, people) -> None:
    import json

    pages = [{"data": [claude_record(D1, (1, 2, 3, 4), 50, email="ana@example.com")],
              "has_more": True, "next_page": "x"},
             {"data": [claude_record(D1, (10, 0, 0, 0), 50, email="ana@example.com")],
              "has_more": False, "next_page": None}]
    as_lines = "\n".join(json.dumps(p) for p in pages)
    for text in (json.dumps(pages), as_lines):  # a list of pages, or one page per line
        result = run_import(deps.store, deps.identities, "claude-code", text)
        assert result.ok and result.rows == 1
    assert deps.store.reads.day_counts(D1, "U0ANA")["tokens"] == 20
    assert deps.store.reads.day_counts(D1, "U0ANA")["cost"] == pytest.approx(1.0)
    # per tool and per model: (1, 2, 3, 4) halves to 0+1+1+2 sonnet, 1+1+2+2 opus; (10, 0,
    # 0, 0) to 5 and 5
    assert tool_fields(deps.store.reads.day_counts(D1, "U0ANA")) == {
        "t:cc": 20, "c:cc": 10_000, "m:sonnet": 4 + 5, "m:opus": 6 + 5}
    corrected = [{"data": [claude_record(D1, (2, 0, 0, 0), 10, email="ana@example.com")],
                  "has_more": False, "next_page": None}]
    assert run_import(deps.store, deps.identities, "claude-code", json.dumps(corrected)).ok
    assert tool_fields(deps.store.reads.day_counts(D1, "U0ANA")) == {  # replaced, not added
        "t:cc": 2, "c:cc": 1_000, "m:sonnet": 1, "m:opus": 1}
    assert deps.store.reads.tool_totals([D1]) == {"t:cc": 2, "c:cc": 1_000}

    cursor_report = [{"data": [{"date": ms(D2), "email": "ana@example.com",
                                "chatRequests": 4}]},
                     {"usageEvents": [{"timestamp": str(ms(D2) + 5), "userEmail":
                                       "ana@example.com", "model": "gpt-5",
                                       "tokenUsage": {"inputTokens": 7, "totalCents": 3}}],
                      "pagination": {"hasNextPage": False}}]
    assert run_import(deps.store, deps.identities, "cursor", json.dumps(cursor_report)).ok
    assert (deps.store.reads.day_counts(D2, "U0ANA")["tokens"],
            deps.store.reads.day_counts(D2, "U0ANA")["requests"]) == (7, 4)
    assert tool_fields(deps.store.reads.day_counts(D2, "U0ANA")) == {
        "t:cu": 7, "c:cu": 300, "m:gpt-5": 7}

    openai_report = {"users": {"data": [{"id": "u1", "email": "ana@example.com"}]},
                     "usage": [{"data": [{"start_time": ms(D3) // 1000, "results": [
                         {"user_id": "u1", "model": "gpt-4o-2024-08-06",
                          "input_tokens": 30, "output_tokens": 3,
                          "input_cached_tokens": 20, "num_model_requests": 1}]}]}]}
    assert run_import(deps.store, deps.identities, "openai", json.dumps(openai_report)).ok
    assert deps.store.reads.day_counts(D3, "U0ANA")["tokens"] == 33
    assert tool_fields(deps.store.reads.day_counts(D3, "U0ANA")) == {"t:oa": 33,
                                                                     "m:gpt-4o": 33}
    broken = run_import(deps.store, deps.identities, "openai", "{not json")
    assert not broken.ok and "cannot be read as a openai report" in broken.error


@pytest.mark.slow
def test_app_home_shows_admins_each_connectors_last_pull(app, claude: ClaudeStub) -> None:
    from tests.support.slack_interactions import open_home

    app.stub.add_user("U0ADM", display_name="Ada", is_admin=True)
    app.stub.add_user("U0ANA", display_name="Ana", email="ana@example.com")
    app.deps.settings = replace(app.deps.settings, anthropic_admin_key=KEY,
                                anthropic_api_url=claude.url, github_token="ghp",
                                copilot_org="acme")
    claude.data = {D1: [claude_record(D1, (1, 1, 1, 1), 1, email="ana@example.com")]}
    claude.fail("usage_report", 500, times=100)
    pull(app.deps, "claude-code", D1, D1)
    home = open_home(app, "U0ADM", "EvHome1")
    assert "claude-code: last pull just now" in home and "HTTP 500" in home
    assert "resumes next time" in home
    assert "copilot: not pulled yet" in home and "tokenboard pull copilot" in home
    assert "claude-code: last pull" not in open_home(app, "U0ANA", "EvHome2")
