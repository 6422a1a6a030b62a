"""OpenAI Usage API (admin key, `Authorization: Bearer`):

- `GET /v1/organization/usage/completions?start_time=…&end_time=…&bucket_width=1d&
  group_by=user_id,model` answers `data[]` buckets (`start_time`, epoch s of the UTC
  day) with `results[]` (`user_id`, `input_tokens`, `output_tokens`,
  `input_cached_tokens`, `num_model_requests`), paged by `has_more` / `next_page`.
- `GET /v1/organization/users?limit=100&after=ID` lists the users (`id`, `email`).

Tokens are `input_tokens + output_tokens`: cached input is already inside
`input_tokens`, so it is never added again. A user the users list does not know is the
identity `openai-user:ID`; usage with no user (API keys used by services) is rejected
with that reason. Tokens are also kept as OpenAI's, and per model (a result's `model`,
`group_by=model`; `bot.core.tools`).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from bot.core.tools import usage_fields
from bot.sources.daily import DailyRow, Parsed, RowError, count, fields, identity, merge

SOURCE = "openai"
TOOL = "openai"


def user_emails(page: Any) -> tuple[dict[str, str], str | None]:
    """user id → email of one users page, and the `after` cursor of the next (None: last)."""
    if not isinstance(page, dict) or not isinstance(page.get("data"), list):
        raise ValueError("users: no data list")
    emails = {u["id"]: u["email"] for u in page["data"]
              if isinstance(u, dict) and isinstance(u.get("id"), str)
              and isinstance(u.get("email"), str) and u["email"]}
    last = page.get("last_id")
    return emails, (str(last) if page.get("has_more") and last else None)


def result_row(result: Any, day_start: Any, emails: dict[str, str]) -> DailyRow:
    if not isinstance(result, dict):
        raise RowError("not an object")
    user = result.get("user_id")
    if not user:
        raise RowError("no user_id (usage by an API key outside any user)")
    if isinstance(day_start, bool) or not isinstance(day_start, int):
        raise RowError(f"bucket start_time {day_start!r} is not epoch seconds")
    day = datetime.fromtimestamp(day_start, tz=UTC).date()
    who = (identity("email", emails[user]) if user in emails
           else identity("openai-user", str(user)))
    inp, out = count(result, "input_tokens"), count(result, "output_tokens")
    model = result.get("model")
    return DailyRow(who, day, (*fields(tokens=inp + out, input_tokens=inp, output_tokens=out,
                                       cache_read_tokens=count(result, "input_cached_tokens"),
                                       requests=count(result, "num_model_requests")),
                               *usage_fields(TOOL, tokens=inp + out,
                                             model=model if isinstance(model, str) else None)))


def parse_page(page: Any, emails: dict[str, str], where: str = "page"
               ) -> tuple[Parsed, str | None]:
    """The rows of one usage page and the cursor of the next (None: the last)."""
    if not isinstance(page, dict) or not isinstance(page.get("data"), list):
        raise ValueError(f"{where}: not a usage page (no data list)")
    parsed = Parsed()
    for b, bucket in enumerate(page["data"]):
        results = bucket.get("results") if isinstance(bucket, dict) else None
        for r, result in enumerate(results if isinstance(results, list) else []):
            try:
                parsed.rows.append(result_row(result, bucket.get("start_time"), emails))
            except RowError as exc:
                parsed.rejects.append(f"{where} bucket {b} result {r}: {exc}")
    more = page.get("has_more") and page.get("next_page")
    return parsed, str(more) if more else None


def parse_file(text: str) -> Parsed:
    """A downloaded report: one usage page or a JSON list of pages, optionally with the
    users list as `{"users": <users page>, "usage": [pages]}`."""
    data = json.loads(text)
    emails: dict[str, str] = {}
    pages = data
    if isinstance(data, dict) and "usage" in data:
        emails = user_emails(data.get("users") or {"data": []})[0]
        pages = data["usage"]
    parsed = Parsed()
    for number, page in enumerate(pages if isinstance(pages, list) else [pages], start=1):
        parsed.extend(parse_page(page, emails, f"page {number}")[0])
    parsed.rows = merge(parsed.rows)
    return parsed
