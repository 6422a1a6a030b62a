"""Vendor admin reports pulled from local stubs of each API: pagination, 429 with
Retry-After, a failure mid-way that resumes, a corrected day re-pulled, unmapped rows
credited on link, and exact totals against the stub's own data."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from bot.connectors import vendors
from bot.connectors.runner import PullResult, run_import, run_pull
from bot.core.periods import ALL, Bucket
from bot.runtime.deps import Deps
from bot.sources.copilot import records as copilot_records
from tests.support.vendor_reports import COPILOT_REPORT, github_docs_example
from tests.vendor_stubs import ClaudeStub, CopilotStub, CursorStub, OpenAIStub, ms

TODAY = datetime.now(UTC).date()
D1, D2, D3 = (TODAY - timedelta(days=n) for n in (6, 5, 4))
KEY = "sk-ant-admin-test"


@pytest.fixture
def people(stub) -> None:
    stub.add_user("U0ANA", real_name="Ana", email="ana@example.com")
    stub.add_user("U0BOB", real_name="Bob")  # Bob's email is unknown to Slack


def tool_fields(day: dict[str, float]) -> dict[str, float]:
    """The per-tool and per-model fields of a day (bot.core.tools)."""
    return {k: v for k, v in day.items() if k[:2] in ("t:", "c:", "m:")}


def board(deps: Deps, metric: str, bucket: Bucket, who: str) -> float | None:
    return deps.store.r.zscore(deps.store.keys.board(metric, bucket), who)


def day_bucket(day: date) -> Bucket:
    return Bucket("d", day.isoformat())


class FakeClock:
    """Time that passes only when slept; the pacer's waits are kept apart from the retry
    policy's (`paced`)."""

    def __init__(self) -> None:
        self.t = 0.0
        self.paced: list[float] = []

    def now(self) -> float:
        return self.t

    def pace(self, seconds: float) -> None:
        self.paced.append(seconds)
        self.t += seconds


def pull(deps: Deps, source: str, since: date, until: date, sleeps: list[float] | None = None,
         clock: FakeClock | None = None, **settings: str) -> PullResult:
    """Pull with the vendor's own pacer on a fake clock; retry waits go to `sleeps` (and
    move the clock on too)."""
    config = replace(deps.settings, **settings)
    clock = clock or FakeClock()
    waits = sleeps if sleeps is not None else []

    def retry_sleep(seconds: float) -> None:
        waits.append(seconds)
        clock.t += seconds

    connector = vendors.build(config, source, sleep=retry_sleep,
                              pace=vendors.pacer(source, clock.now, clock.pace))
    return run_pull(deps.store, deps.identities, connector, since, until)


# -- Claude Code ---------------------------------------------------------------------------

def claude_record(day: date, tokens: tuple[int, int, int, int], cents: float,
                  email: str = "", key: str = "", sessions: int = 1) -> dict:
    actor = ({"type": "user_actor", "email_address": email} if email
             else {"type": "api_actor", "api_key_name": key})
    half = [t // 2 for t in tokens]
    rest = [t - h for t, h in zip(tokens, half, strict=True)]
    return {"date": f"{day.isoformat()}T00:00:00Z", "actor": actor,
            "organization_id": "org", "customer_type": "api", "terminal_type": "vscode",
            "core_metrics": {"num_sessions": sessions,
                             "lines_of_code": {"added": 10, "removed": 2},
                             "commits_by_claude_code": 1, "pull_requests_by_claude_code": 0},
            "tool_actions": {},
            "model_breakdown": [  # two models: the row adds them up
                {"model": "claude-sonnet", "tokens": dict(zip(
                    ("input", "output", "cache_read", "cache_creation"), half, strict=True)),
                 "estimated_cost": {"currency": "USD", "amount": cents / 2}},
                {"model": "claude-opus", "tokens": dict(zip(
                    ("input", "output", "cache_read", "cache_creation"), rest, strict=True)),
                 "estimated_cost": {"currency": "USD", "amount": cents / 2}}]}


def claude_expected(data: dict[date, list[dict]], day: date, email: str) -> tuple[int, float]:
    """(tokens, cost USD) of one person's day, from the stub's own records."""
    tokens = cents = 0.0
    for record in data.get(day, []):
        if record["actor"].get("email_address", "").lower() == email:
            for model in record["model_breakdown"]:
                tokens += sum(model["tokens"].values())
                cents += model["estimated_cost"]["amount"]
    return int(tokens), cents / 100


@pytest.fixture
def claude() -> ClaudeStub:
    server = ClaudeStub(KEY, page_size=2)
    yield server
    server.close()


def test_claude_code_pull_pages_waits_on_429_and_replaces_a_corrected_day(
        deps: Deps, people, claude: ClaudeStub) -> None:
    claude.data = {
        D1: [claude_record(D1, (100, 200, 300, 400), 150, email="ana@example.com"),
             claude_record(D1, (7, 8, 9, 10), 20, email="bob@example.com"),
             claude_record(D1, (1, 2, 3, 4), 5, email="Ana@Example.com")],  # same person
        D2: [claude_record(D2, (50, 50, 0, 0), 30, email="ana@example.com"),
             claude_record(D2, (1000, 0, 0, 0), 90, key="ci-bot")],
        D3: [claude_record(D3, (5, 5, 5, 5), 8, email="bob@example.com")],
    }
    claude.fail("usage_report", 429, times=1, retry_after="7")
    sleeps: list[float] = []
    result = pull(deps, "claude-code", D1, D3, sleeps, anthropic_admin_key=KEY,
                  anthropic_api_url=claude.url)
    assert result.ok, result.summary()
    assert sleeps == [7.0]  # Retry-After honoured
    assert len(claude.seen("usage_report")) == 1 + 2 + 1 + 1  # the 429, D1 in 2 pages, D2, D3
    assert sorted(result.unmapped) == ["anthropic-key:ci-bot", "email:bob@example.com"]
    store = deps.store
    for day in (D1, D2):
        tokens, cost = claude_expected(claude.data, day, "ana@example.com")
        counts = store.reads.day_counts(day, "U0ANA")
        assert counts["tokens"] == tokens and counts["cost"] == pytest.approx(cost)
        assert board(deps, "tokens", day_bucket(day), "U0ANA") == tokens
    assert store.reads.day_counts(D1, "U0ANA")["sessions"] == 2
    assert store.reads.day_counts(D1, "U0ANA")["a:commits"] == 2
    assert store.reads.day_counts(D1, "U0ANA")["cache_read_tokens"] == 300 + 3
    first_all = board(deps, "tokens", ALL, "U0ANA")

    # Re-pulling the same days changes nothing.
    again = pull(deps, "claude-code", D1, D3, anthropic_admin_key=KEY,
                 anthropic_api_url=claude.url)
    assert (again.changed, again.unchanged) == (0, again.rows)
    assert board(deps, "tokens", ALL, "U0ANA") == first_all

    # Anthropic corrects D1: Ana's tokens go down, her cost goes up.
    old_tokens, _ = claude_expected(claude.data, D1, "ana@example.com")
    claude.data[D1][0] = claude_record(D1, (60, 100, 100, 40), 400, email="ana@example.com")
    new_tokens, new_cost = claude_expected(claude.data, D1, "ana@example.com")
    assert new_tokens < old_tokens
    fixed = pull(deps, "claude-code", D1, D1, anthropic_admin_key=KEY,
                 anthropic_api_url=claude.url)
    assert fixed.changed == 1 and fixed.unchanged == 1
    assert store.reads.day_counts(D1, "U0ANA")["tokens"] == new_tokens
    assert store.reads.day_counts(D1, "U0ANA")["cost"] == pytest.approx(new_cost)
    assert board(deps, "tokens", ALL, "U0ANA") == first_all - old_tokens + new_tokens
    # cost is kept per day only as the raw metric; all-time it is always kept
    assert board(deps, "cost", ALL, "U0ANA") == pytest.approx(
        sum(claude_expected(claude.data, d, "ana@example.com")[1] for d in (D1, D2, D3)))

    # Anthropic drops Ana's D2 row: her D2 goes back to zero, others stay.
    claude.data[D2] = [r for r in claude.data[D2] if "email_address" not in r["actor"]]
    dropped = pull(deps, "claude-code", D2, D2, anthropic_admin_key=KEY,
                   anthropic_api_url=claude.url)
    assert dropped.withdrawn == 1 and dropped.unchanged == 1
    assert store.reads.day_counts(D2, "U0ANA")["tokens"] == 0
    assert board(deps, "tokens", ALL, "U0ANA") == new_tokens
    # a day answered empty (still being processed) wipes nothing
    saved, claude.data[D1] = claude.data[D1], []
    empty = pull(deps, "claude-code", D1, D1, anthropic_admin_key=KEY,
                 anthropic_api_url=claude.url)
    assert empty.ok and empty.withdrawn == 0
    assert store.reads.day_counts(D1, "U0ANA")["tokens"] == new_tokens
    claude.data[D1] = saved


def test_unmapped_rows_are_credited_on_link_and_a_later_correction_replaces(
        deps: Deps, people, claude: ClaudeStub) -> None:
    claude.data = {D3: [claude_record(D3, (10, 10, 10, 10), 40, email="bob@example.com")]}
    settings = {"anthropic_admin_key": KEY, "anthropic_api_url": claude.url}
    assert pull(deps, "claude-code", D3, D3, **settings).unmapped == ["email:bob@example.com"]
    assert board(deps, "tokens", day_bucket(D3), "U0BOB") is None
    deps.identities.link("U0BOB", "email:bob@example.com")
    assert deps.store.reads.day_counts(D3, "U0BOB")["tokens"] == 40
    claude.data[D3][0] = claude_record(D3, (1, 2, 3, 4), 10, email="bob@example.com")
    assert pull(deps, "claude-code", D3, D3, **settings).changed == 1
    assert deps.store.reads.day_counts(D3, "U0BOB")["tokens"] == 10
    assert board(deps, "tokens", day_bucket(D3), "U0BOB") == 10
    assert board(deps, "tokens", ALL, "U0BOB") == 10


def test_a_failure_mid_way_resumes_where_it_stopped(deps: Deps, people,
                                                    claude: ClaudeStub) -> None:
    claude.data = {day: [claude_record(day, (10, 0, 0, 0), 1, email="ana@example.com")]
                   for day in (D1, D2, D3)}
    settings = {"anthropic_admin_key": KEY, "anthropic_api_url": claude.url}
    claude.fail(f"starting_at={D2}", 500, times=100)
    failed = pull(deps, "claude-code", D1, D3, **settings)
    assert not failed.ok and "HTTP 500" in failed.error and failed.changed == 1
    assert deps.store.reads.day_counts(D1, "U0ANA")["tokens"] == 10
    claude.faults.clear()
    before = len(claude.requests)
    done = pull(deps, "claude-code", D1, D3, **settings)
    assert done.ok and done.resumed_from == D2.isoformat()
    asked = [r.query["starting_at"] for r in claude.requests[before:]]
    assert asked == [D2.isoformat(), D3.isoformat()]
    assert board(deps, "tokens", ALL, "U0ANA") == 30
    last = deps.store.r.hget(deps.store.keys.pull("claude-code"), "last")
    assert PullResult.from_json(last).changed == 2


def test_one_source_per_tool(deps: Deps, people, claude: ClaudeStub) -> None:
    """Claude Code already counted from OpenTelemetry: the API pull leaves it alone until
    the configuration names the API."""
    deps.store.r.hset(deps.store.keys.tool_sources(), "claude_code", "otlp")
    claude.data = {D1: [claude_record(D1, (1, 1, 1, 1), 1, email="ana@example.com")]}
    settings = {"anthropic_admin_key": KEY, "anthropic_api_url": claude.url}
    skipped = pull(deps, "claude-code", D1, D1, **settings)
    assert skipped.skipped and "OpenTelemetry" in skipped.skipped and not claude.requests
    config = deps.store.configs.load().model_copy(update={"tool_sources":
                                                         {"claude_code": "claude-code"}})
    deps.store.configs.save(config)
    assert pull(deps, "claude-code", D1, D1, **settings).changed == 1


# -- Copilot --------------------------------------------------------------------------------


def copilot_record(login: str, day: date, prompt: int, output: int, interactions: int = 1
                   ) -> dict:
    return {"user_login": login, "user_id": hash(login) % 1000, "day": day.isoformat(),
            "user_initiated_interaction_count": interactions,
            "code_generation_activity_count": 2, "code_acceptance_activity_count": 1,
            "loc_added_sum": 5, "loc_deleted_sum": 1,
            "totals_by_cli": {"request_count": 3, "session_count": 1, "token_usage": {
                "prompt_tokens_sum": prompt, "output_tokens_sum": output}}}


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
