"""bot.sources.reports: a usage report's model, and its tokens and cost per tool."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.core.counts import fingerprint
from bot.sources.reports import UsageReport, report_fingerprint, usage_from_report

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


def report(**more: object) -> UsageReport:
    return UsageReport(id="r1", type="usage", user="U0ANA", ts=NOW, tool="Claude Code",
                       tokens=1200, cost_usd=0.02, **more)


def test_a_report_keeps_its_tokens_and_cost_per_tool_and_model() -> None:
    usage = usage_from_report(report(model="claude-sonnet-4-5-20250929"))
    assert dict(usage.fields) == {"tokens": 1200, "cost": 0.02, "requests": 1,
                                  "t:cc": 1200, "m:sonnet-4-5": 1200, "c:cc": 200}
    assert "m:" not in "".join(name for name, _ in usage_from_report(report()).fields)


def test_a_report_without_a_model_keeps_the_fingerprint_it_had_before_models() -> None:
    plain = report()
    before = {k: v for k, v in plain.model_dump(mode="json", exclude={"id"}).items()
              if k != "model"}
    assert report_fingerprint(plain) == fingerprint(sorted(before.items()))
    assert report_fingerprint(report(model="gpt-5")) != report_fingerprint(plain)
