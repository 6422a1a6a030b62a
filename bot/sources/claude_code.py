"""Claude Code Analytics API (Anthropic Admin API): `GET
/v1/organizations/usage_report/claude_code?starting_at=DAY`, one day per request, pages
of up to 1,000 records with `has_more` / `next_page`.

Per record: `date` (`YYYY-MM-DD` or `YYYY-MM-DDT00:00:00Z`), `actor` (a user's
`email_address`, or an API key's `api_key_name` → identity `anthropic-key:NAME`),
`model_breakdown[]` with `tokens` {input, output, cache_read, cache_creation} and
`estimated_cost` {currency, amount in cents}, and `core_metrics` (sessions, lines,
commits and pull requests by Claude Code: kept as usage-side activity, never outcomes).
Tokens and cost are also kept as Claude Code's, and tokens per model
(`bot.core.tools`).
"""

from __future__ import annotations

import json
from typing import Any

from bot.core.tools import model_fields, usage_fields
from bot.sources.daily import (
    DailyRow,
    Parsed,
    RowError,
    count,
    day_of,
    fields,
    identity,
    merge,
)

SOURCE = "claude-code"
TOOL = "claude_code"
TOKEN_TYPES = ("input", "output", "cache_read", "cache_creation")


def row_of(record: Any) -> DailyRow:
    if not isinstance(record, dict):
        raise RowError("not an object")
    actor = record.get("actor")
    if not isinstance(actor, dict):
        raise RowError("actor is missing")
    if actor.get("type") == "api_actor" or "api_key_name" in actor:
        who = identity("anthropic-key", actor.get("api_key_name"))
    else:
        who = identity("email", actor.get("email_address"))
    day = day_of(record.get("date"))
    tokens = {t: 0.0 for t in TOKEN_TYPES}
    cents = 0.0
    per_model: dict[str, float] = {}
    breakdown = record.get("model_breakdown") or []
    if not isinstance(breakdown, list):
        raise RowError("model_breakdown is not a list")
    for model in breakdown:
        model_tokens = 0.0
        for kind in TOKEN_TYPES:
            amount = count(model, "tokens", kind)
            tokens[kind] += amount
            model_tokens += amount
        name = model.get("model") if isinstance(model, dict) else None
        if isinstance(name, str) and name.strip():
            per_model[name] = per_model.get(name, 0.0) + model_tokens
        cost = model.get("estimated_cost") if isinstance(model, dict) else None
        if isinstance(cost, dict) and str(cost.get("currency", "USD")).upper() != "USD":
            raise RowError(f"estimated_cost is in {cost.get('currency')!r}, not USD")
        cents += count(model, "estimated_cost", "amount")
    core = record.get("core_metrics") or {}
    total = sum(tokens.values())
    per_tool = usage_fields(TOOL, tokens=total, cost=cents / 100)
    return DailyRow(who, day, (*fields(
        tokens=total, cost=cents / 100,
        input_tokens=tokens["input"], output_tokens=tokens["output"],
        cache_read_tokens=tokens["cache_read"],
        cache_creation_tokens=tokens["cache_creation"],
        sessions=count(core, "num_sessions"),
        a_lines_added=count(core, "lines_of_code", "added"),
        a_lines_removed=count(core, "lines_of_code", "removed"),
        a_commits=count(core, "commits_by_claude_code"),
        a_pull_requests=count(core, "pull_requests_by_claude_code")),
        *per_tool, *model_fields(per_model)))


def parse_page(page: Any, where: str = "page") -> tuple[Parsed, str | None]:
    """The rows of one answer page, and the cursor of the next page (None: the last)."""
    if not isinstance(page, dict) or not isinstance(page.get("data"), list):
        raise ValueError(f"{where}: not a usage report page (no data list)")
    parsed = Parsed()
    for index, record in enumerate(page["data"]):
        try:
            parsed.rows.append(row_of(record))
        except RowError as exc:
            parsed.rejects.append(f"{where} record {index}: {exc}")
    parsed.rows = merge(parsed.rows)
    more = page.get("has_more") and page.get("next_page")
    return parsed, str(more) if more else None


def parse_file(text: str) -> Parsed:
    """A downloaded report: one page, a JSON list of pages, or one page per line."""
    try:
        data = json.loads(text)
        pages = data if isinstance(data, list) else [data]
    except json.JSONDecodeError:
        pages = [json.loads(line) for line in text.splitlines() if line.strip()]
    parsed = Parsed()
    for number, page in enumerate(pages, start=1):
        parsed.extend(parse_page(page, f"page {number}")[0])
    parsed.rows = merge(parsed.rows)
    return parsed
