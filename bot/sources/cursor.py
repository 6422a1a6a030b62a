"""Cursor Admin API (basic auth, the key as user name; 20 requests a minute):

- `POST /teams/daily-usage-data` `{startDate, endDate}` (epoch ms, at most 30 days)
  answers `data[]`, one record per person (`email`) and day (`date`, epoch ms of the UTC
  day): requests are `agentRequests + chatRequests + composerRequests + cmdkUsages`;
  lines added and deleted and accepted suggestions are kept as activity.
- `POST /teams/filtered-usage-events` `{startDate, endDate, page, pageSize}` answers
  `usageEvents[]` (`userEmail`, `timestamp` in epoch ms, `tokenUsage` {inputTokens,
  outputTokens, cacheWriteTokens, cacheReadTokens, totalCents}) with `pagination`
  {hasNextPage}: tokens (the four types) and cost are added up per person and UTC day.

A person's day is one row made of both answers, so the window's every page is read
before its rows are counted. Tokens and cost are also kept as Cursor's, and tokens per
model (an event's `model`; `bot.core.tools`).
"""

from __future__ import annotations

import json
from typing import Any

from bot.core.tools import usage_fields
from bot.sources.daily import (
    DailyRow,
    Parsed,
    RowError,
    count,
    day_of_epoch_ms,
    fields,
    identity,
    merge,
)

SOURCE = "cursor"
TOOL = "cursor"
MAX_DAYS = 30  # the API's longest window


def daily_row(record: Any) -> DailyRow:
    if not isinstance(record, dict):
        raise RowError("not an object")
    return DailyRow(identity("email", record.get("email")), day_of_epoch_ms(record.get("date")),
                    fields(requests=sum(count(record, name) for name in (
                        "agentRequests", "chatRequests", "composerRequests", "cmdkUsages")),
                        a_lines_added=count(record, "totalLinesAdded"),
                        a_lines_removed=count(record, "totalLinesDeleted"),
                        a_accepts=count(record, "totalAccepts")))


def event_row(event: Any) -> DailyRow:
    if not isinstance(event, dict):
        raise RowError("not an object")
    who = identity("email", event.get("userEmail"))
    day = day_of_epoch_ms(event.get("timestamp"))
    inp, out, write, read = (count(event, "tokenUsage", name) for name in (
        "inputTokens", "outputTokens", "cacheWriteTokens", "cacheReadTokens"))
    cost = count(event, "tokenUsage", "totalCents") / 100
    model = event.get("model")
    return DailyRow(who, day, (*fields(tokens=inp + out + write + read, input_tokens=inp,
                                       output_tokens=out, cache_creation_tokens=write,
                                       cache_read_tokens=read, cost=cost),
                               *usage_fields(TOOL, tokens=inp + out + write + read, cost=cost,
                                             model=model if isinstance(model, str) else None)))


def parse_daily(answer: Any, where: str = "daily-usage-data") -> Parsed:
    if not isinstance(answer, dict) or not isinstance(answer.get("data"), list):
        raise ValueError(f"{where}: no data list")
    return _rows(answer["data"], daily_row, where)


def parse_events(answer: Any, where: str = "usage events") -> tuple[Parsed, bool]:
    """The rows of one events page and whether another page follows."""
    if not isinstance(answer, dict) or not isinstance(answer.get("usageEvents"), list):
        raise ValueError(f"{where}: no usageEvents list")
    pagination = answer.get("pagination") or {}
    return (_rows(answer["usageEvents"], event_row, where),
            bool(isinstance(pagination, dict) and pagination.get("hasNextPage")))


def _rows(records: list, read, where: str) -> Parsed:
    parsed = Parsed()
    for index, record in enumerate(records):
        try:
            parsed.rows.append(read(record))
        except RowError as exc:
            parsed.rejects.append(f"{where} record {index}: {exc}")
    return parsed


def parse_file(text: str) -> Parsed:
    """A downloaded report: a daily-usage-data answer, a usage-events page, or a JSON list
    of them; all of it makes the rows."""
    data = json.loads(text)
    parsed = Parsed()
    for number, answer in enumerate(data if isinstance(data, list) else [data], start=1):
        if isinstance(answer, dict) and "usageEvents" in answer:
            parsed.extend(parse_events(answer, f"answer {number}")[0])
        else:
            parsed.extend(parse_daily(answer, f"answer {number}"))
    parsed.rows = merge(parsed.rows)
    return parsed
