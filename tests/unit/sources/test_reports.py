"""bot.sources.reports: a usage report's model, and its tokens and cost per tool."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.core.counts import fingerprint
from bot.sources.reports import UsageReport, _adapter, report_fingerprint, usage_from_report

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


# Fingerprints are kept with event ids: a retry after an upgrade must find the same one.
PINNED = [
    ({"id": "a", "type": "usage", "user": "U0ANA", "ts": "2026-11-24T15:00:00Z",
      "tool": "Claude Code", "tokens": 1200, "cost_usd": 0.02}, "e4c5fbba09ba"),
    ({"id": "b", "type": "usage", "email": "Ann@Example.com",
      "ts": "2026-11-24T15:00:00.123456+02:00", "tool": "cursor", "tokens": 7,
      "model": "gpt-5", "input_tokens": 5, "requests": 0, "team": "core"}, "69175eeffbf1"),
    ({"id": "c", "type": "usage", "user": "U0ANA", "ts": 1764000000.5, "tool": "codex",
      "tokens": 0, "cost_usd": 1}, "84ecc53196d5"),
    ({"id": "d", "type": "outcome", "user": "U0ANA", "ts": "2026-11-24T15:00:00.5Z",
      "kind": "pr_merged", "count": 3, "ref": "héllo"}, "7d1783e36830"),
    ({"id": "e", "type": "outcome", "email": "x@y.org", "ts": "1764000000",
      "kind": "deploy"}, "a9eb4b87ce9d"),
]


@pytest.mark.parametrize(("raw", "expected"), PINNED)
def test_fingerprints_stay_what_they_were(raw: dict, expected: str) -> None:
    parsed = _adapter.validate_python(raw)
    assert report_fingerprint(parsed) == expected
    content = parsed.model_dump(mode="json", exclude={"id"})
    if content.get("model", "") is None:
        del content["model"]
    assert fingerprint(sorted(content.items())) == expected


def test_a_fingerprint_is_the_dumped_content_for_any_time() -> None:
    for micro in (0, 1, 500_000, 999_999):
        for year in (1, 999, 2026, 9999):
            ts = datetime(year, 1, 2, 3, 4, 5, micro, tzinfo=UTC)
            for value in (ts, ts.isoformat(), ts.isoformat().replace("+00:00", "Z")):
                parsed = _adapter.validate_python({"id": "r", "type": "usage",
                                                   "user": "U0ANA", "ts": value,
                                                   "tool": "x", "tokens": 1})
                content = parsed.model_dump(mode="json", exclude={"id"})
                content.pop("model", None)
                assert report_fingerprint(parsed) == fingerprint(sorted(content.items()))
