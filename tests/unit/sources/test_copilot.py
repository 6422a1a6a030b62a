"""bot.sources.copilot: the suite's Copilot report against GitHub Docs' example (reference)."""

from __future__ import annotations

import json

import pytest

from tests.reference import shape_differences
from tests.support.vendor_reports import COPILOT_REPORT, github_docs_example


@pytest.mark.reference
def test_our_copilot_report_has_the_shape_of_githubs_example() -> None:
    """Every field of GitHub's documented example, at every level, is in each of our rows
    with the same JSON type."""
    example = json.loads(github_docs_example().read_text())
    for line in COPILOT_REPORT.read_text().splitlines():
        assert shape_differences(example[0], json.loads(line)) == []


def test_a_rows_tokens_are_also_copilots() -> None:
    from bot.sources.copilot import parse_ndjson

    record = json.loads(COPILOT_REPORT.read_text().splitlines()[0])
    usage = record["totals_by_cli"]["token_usage"]
    [row] = parse_ndjson(json.dumps(record)).rows
    tokens = usage["prompt_tokens_sum"] + usage["output_tokens_sum"]
    assert row.amount("tokens") == row.amount("t:cp") == tokens
    assert not [name for name, _ in row.fields if name.startswith(("c:", "m:"))]
