"""GitHub Copilot usage metrics, per user and day: `GET
/orgs/{org}/copilot/metrics/reports/users-1-day?day=DAY` answers `download_links`
(signed URLs) to NDJSON files with one record per user and day.

Per record: `user_login` (identity `github:LOGIN`), `day`, the interaction and
code-generation counts, and `totals_by_cli.token_usage` {prompt_tokens_sum,
output_tokens_sum}. What counts:

- tokens: `prompt_tokens_sum + output_tokens_sum` (input and output kept apart too);
- requests: `user_initiated_interaction_count` (chat and agent prompts in the IDE) +
  `code_generation_activity_count` (completions and edits generated) +
  `totals_by_cli.request_count` (Copilot CLI);
- sessions: `totals_by_cli.session_count`; activity: accepted generations, lines added
  and deleted.

Copilot reports no cost per person. Tokens are also kept as Copilot's (`bot.core.tools`).
"""

from __future__ import annotations

import json
from typing import Any

from bot.core.tools import usage_fields
from bot.sources.daily import DailyRow, Parsed, RowError, count, day_of, fields, identity, merge

SOURCE = "copilot"
TOOL = "copilot"


def row_of(record: Any) -> DailyRow:
    if not isinstance(record, dict):
        raise RowError("not an object")
    who = identity("github", record.get("user_login"))
    day = day_of(record.get("day"))
    prompt = count(record, "totals_by_cli", "token_usage", "prompt_tokens_sum")
    output = count(record, "totals_by_cli", "token_usage", "output_tokens_sum")
    return DailyRow(who, day, (*fields(
        tokens=prompt + output, input_tokens=prompt, output_tokens=output,
        requests=(count(record, "user_initiated_interaction_count")
                  + count(record, "code_generation_activity_count")
                  + count(record, "totals_by_cli", "request_count")),
        sessions=count(record, "totals_by_cli", "session_count"),
        a_code_acceptances=count(record, "code_acceptance_activity_count"),
        a_lines_added=count(record, "loc_added_sum"),
        a_lines_removed=count(record, "loc_deleted_sum")),
        *usage_fields(TOOL, tokens=prompt + output)))


def records(text: str) -> list[tuple[str, Any]]:
    """(where, record) of an NDJSON report (also a JSON list, as GitHub's docs show it);
    a line that is not JSON is its own (where, error) with a None record."""
    stripped = text.lstrip()
    if stripped.startswith("["):
        data = json.loads(stripped)
        return [(f"record {i}", r) for i, r in enumerate(data)]
    out: list[tuple[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append((f"line {number}", json.loads(line)))
        except json.JSONDecodeError as exc:
            out.append((f"line {number}", RowError(f"not JSON ({exc.msg})")))
    return out


def parse_ndjson(text: str, where: str = "") -> Parsed:
    parsed = Parsed()
    prefix = f"{where} " if where else ""
    for place, record in records(text):
        try:
            if isinstance(record, RowError):
                raise record
            parsed.rows.append(row_of(record))
        except RowError as exc:
            parsed.rejects.append(f"{prefix}{place}: {exc}")
    parsed.rows = merge(parsed.rows)
    return parsed


def download_links(answer: Any) -> list[str]:
    """The NDJSON file URLs of a users-1-day answer."""
    links = answer.get("download_links") if isinstance(answer, dict) else None
    if not isinstance(links, list) or not all(isinstance(x, str) for x in links):
        raise ValueError("the answer has no download_links list")
    return links
