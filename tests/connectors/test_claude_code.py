"""Claude Code's admin reports pulled from a local stub of its API: pagination, 429 with
Retry-After, a failure mid-way that resumes, a corrected day re-pulled, unmapped rows
credited on link, one source per tool; exact totals against the stub's own data.
"""

from __future__ import annotations

from datetime import date

import pytest

from bot.connectors.runner import PullResult
from bot.core.periods import ALL, Bucket
from bot.runtime.deps import Deps
from tests.support.connector_pulls import (
    D1,
    D2,
    D3,
    KEY,
    board,
    claude_record,
    pull,
)
from tests.vendor_stubs import ClaudeStub


def day_bucket(day: date) -> Bucket:
    return Bucket("d", day.isoformat())


def claude_expected(data: dict[date, list[dict]], day: date, email: str) -> tuple[int, float]:
    """(tokens, cost USD) of one person's day, from the stub's own records."""
    tokens = cents = 0.0
    for record in data.get(day, []):
        if record["actor"].get("email_address", "").lower() == email:
            for model in record["model_breakdown"]:
                tokens += sum(model["tokens"].values())
                cents += model["estimated_cost"]["amount"]
    return int(tokens), cents / 100


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
