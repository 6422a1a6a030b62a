"""Importing a vendor's admin report: rows/s of `tokenboard import copilot FILE` for
5,000 people × 90 days of Copilot NDJSON (one row per person and day), beside the same
usage sent as plain `POST /ingest` events in the same run (same Redis, flushed between).

Three figures from the report: the first import (every row new), a second import of the
same file (every row unchanged: the replace check only), and one with a tenth of the
rows corrected. /ingest gets one usage event per person and day, in batches of 500 over
one keep-alive connection, as a sender would send them. Both sides count the same
totals (checked).

    .venv/bin/python -m bench.vendor_import [--quick]
"""

from __future__ import annotations

import json
import random
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from bench._common import (
    INGEST_HEADERS,
    KeepAlive,
    ingest_body,
    machine,
    parse_args,
    private_redis,
    redis_version,
    slack_stub,
    start_app,
)
from bot.connectors.runner import run_import
from bot.core.config import BoardConfig
from bot.core.periods import ALL, Bucket

FULL = (5000, 90)
QUICK = (1000, 30)
BATCH = 500


def make_rows(people: int, days: int, seed: int = 11) -> list[dict]:
    rng = random.Random(seed)
    today = datetime.now(UTC).date()
    rows = []
    for d in range(days, 0, -1):
        day = (today - timedelta(days=d)).isoformat()
        for p in range(people):
            prompt, output = rng.randint(100, 90_000), rng.randint(50, 30_000)
            rows.append({
                "user_login": f"dev{p:05d}", "user_id": p, "day": day, "enterprise_id": "1",
                "user_initiated_interaction_count": rng.randint(0, 40),
                "code_generation_activity_count": rng.randint(0, 200),
                "code_acceptance_activity_count": rng.randint(0, 80),
                "loc_added_sum": rng.randint(0, 500), "loc_deleted_sum": rng.randint(0, 100),
                "totals_by_cli": {"request_count": rng.randint(0, 10),
                                  "session_count": rng.randint(0, 3),
                                  "token_usage": {"prompt_tokens_sum": prompt,
                                                  "output_tokens_sum": output}},
                "totals_by_ide": [{"ide": "vscode", "loc_added_sum": 1}],
                "used_chat": True, "used_agent": False, "used_cli": True})
    return rows


def to_events(rows: list[dict]) -> list[dict]:
    """The same usage as /ingest events: one per person and day, at noon UTC."""
    events = []
    for i, row in enumerate(rows):
        usage = row["totals_by_cli"]["token_usage"]
        tokens = usage["prompt_tokens_sum"] + usage["output_tokens_sum"]
        events.append({"id": f"r{i}", "type": "usage", "user": f"U{row['user_id']:07d}",
                       "ts": f"{row['day']}T12:00:00Z", "tool": "copilot", "tokens": tokens,
                       "requests": (row["user_initiated_interaction_count"]
                                    + row["code_generation_activity_count"]
                                    + row["totals_by_cli"]["request_count"]),
                       "input_tokens": usage["prompt_tokens_sum"],
                       "output_tokens": usage["output_tokens_sum"]})
    return events


def ndjson(rows: list[dict]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(__doc__.splitlines()[0], argv)
    people, days = QUICK if args.quick else FULL
    print(f"vendor_import: {people:,} people × {days} days = {people * days:,} Copilot rows; "
          f"{machine()}")
    rows = make_rows(people, days)
    text = ndjson(rows)
    print(f"  report: {len(text) / 1e6:,.0f} MB of NDJSON")
    results: dict[str, Any] = {"rows": len(rows)}
    with private_redis() as (server, client), slack_stub() as stub, \
            tempfile.TemporaryDirectory() as tmp:
        print(f"  {redis_version(client)}")
        app = start_app(server.url, stub, Path(tmp))
        try:
            store, identities = app.deps.store, app.deps.identities
            links = {f"github:dev{p:05d}": f"U{p:07d}" for p in range(people)}
            expected = sum(r["totals_by_cli"]["token_usage"]["prompt_tokens_sum"]
                           + r["totals_by_cli"]["token_usage"]["output_tokens_sum"]
                           for r in rows)

            def total() -> float:
                return sum(s for _, s in client.zscan_iter(store.keys.board("tokens", ALL)))

            def timed(label: str, body: str) -> float:
                t0 = time.perf_counter()
                result = run_import(store, identities, "copilot", body)
                elapsed = time.perf_counter() - t0
                assert result.ok and result.rows == len(rows), result.summary()
                rate = len(rows) / elapsed
                print(f"  import, {label:28s} {rate:10,.0f} rows/s ({elapsed:6.1f} s; "
                      f"{result.changed:,} new or changed)")
                return rate

            client.hset(store.keys.key("ident"), mapping=links)
            results["import_new_rows_per_s"] = timed("every row new:", text)
            assert total() == expected, (total(), expected)
            results["import_unchanged_rows_per_s"] = timed("every row unchanged:", text)
            rng = random.Random(3)
            for row in rng.sample(rows, len(rows) // 10):
                row["totals_by_cli"]["token_usage"]["output_tokens_sum"] += 1000
            corrected = ndjson(rows)
            results["import_tenth_corrected_rows_per_s"] = timed("a tenth corrected:",
                                                                corrected)
            assert total() == expected + 1000 * (len(rows) // 10)

            client.flushdb()
            # the same usage over /ingest: the configuration says that /ingest counts
            # Copilot (the import above made GitHub's metrics its source, and the app
            # remembers who holds a tool for a few seconds)
            store.configs.save(BoardConfig(tool_sources={"copilot": "ingest"}), by="bench")
            events = to_events(rows)
            conn = KeepAlive(app.port)
            t0 = time.perf_counter()
            try:
                for start in range(0, len(events), BATCH):
                    status, raw = conn.post("/ingest", ingest_body(events[start:start + BATCH]),
                                            INGEST_HEADERS)
                    if status != 200 or json.loads(raw)["rejected"]:
                        raise RuntimeError(f"/ingest answered {status}: {raw[:300]!r}")
            finally:
                conn.close()
            elapsed = time.perf_counter() - t0
            assert total() == expected + 1000 * (len(rows) // 10)
            results["ingest_events_per_s"] = len(events) / elapsed
            print(f"  POST /ingest, one event per row:  {len(events) / elapsed:10,.0f} "
                  f"events/s ({elapsed:6.1f} s; batches of {BATCH}, one connection)")
            day = date.fromisoformat(rows[-1]["day"])
            assert client.zcard(store.keys.board("tokens", Bucket("d", day.isoformat()))) == people
        finally:
            app.stop()
    return results


if __name__ == "__main__":
    main()
