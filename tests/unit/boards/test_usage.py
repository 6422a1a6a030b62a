"""bot.boards.usage: where a person's (and the org's) usage went, per tool and model,
from reports that arrive by different sources."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.boards.usage import org_usage, person_usage, summarise
from bot.connectors.runner import PullResult, record_rows
from bot.core.periods import day_bucket, week_bucket
from bot.intake.identities import Identities
from bot.intake.ingest import ingest_events
from bot.sources import cursor
from bot.store.store import Store

TODAY = datetime.now(UTC).date()
MS = int(datetime.combine(TODAY, datetime.min.time(), UTC).timestamp() * 1000) + 5
TS = datetime.combine(TODAY, datetime.min.time(), UTC) + timedelta(hours=1)


def test_summarise_orders_tools_shares_and_top_models() -> None:
    found = summarise({"t:cc": 620, "c:cc": 31_000, "t:cu": 250, "t:cp": 130,
                       "m:opus": 500, "m:sonnet": 300, "m:gpt-5": 150, "m:haiku": 40,
                       "m:other": 10})
    assert [(t.name, t.tokens, t.cost, t.share) for t in found.tools] == [
        ("Claude Code", 620, 3.1, 62), ("Cursor", 250, 0.0, 25), ("Copilot", 130, 0.0, 13)]
    assert found.models == [("opus", 500, 50), ("sonnet", 300, 30), ("gpt-5", 150, 15)]
    assert (found.other_models, found.other_share) == (50, 5)
    assert found.tokens == 1000 and found.cost == 3.1


def test_cost_only_tools_share_by_cost() -> None:
    found = summarise({"c:oa": 30_000, "c:cu": 10_000})
    assert [(t.name, t.share) for t in found.tools] == [("OpenAI", 75), ("Cursor", 25)]
    assert summarise({}).tools == [] and summarise({}).models == []


def test_a_persons_tools_from_ingest_and_a_vendor_row(store: Store,
                                                      identities: Identities) -> None:
    identities.link("U0ANA", "email:ana@example.com")
    counted = ingest_events(store, identities, [
        {"id": "cc-1", "type": "usage", "user": "U0ANA", "ts": TS.isoformat(),
         "tool": "claude_code", "tokens": 600, "cost_usd": 0.3, "model": "claude-opus-4-5"},
        {"id": "cc-2", "type": "usage", "user": "U0ANA", "ts": TS.isoformat(),
         "tool": "claude_code", "tokens": 400, "cost_usd": 0.2, "model": "claude-sonnet-4-5"},
        {"id": "bo", "type": "usage", "user": "U0BOB", "ts": TS.isoformat(),
         "tool": "copilot", "tokens": 500}])
    assert counted.counted == 3 and not counted.rejected
    result = PullResult("cursor")
    record_rows(store, identities, "cursor", [cursor.event_row({  # as Cursor's API has it
        "userEmail": "ana@example.com", "timestamp": MS, "model": "gpt-5",
        "tokenUsage": {"inputTokens": 300, "outputTokens": 200, "totalCents": 25}})], result)
    assert result.changed == 1

    for bucket in (day_bucket(TODAY), week_bucket(TODAY)):
        ana = person_usage(store, bucket, "U0ANA", today=TODAY)
        assert [(t.name, t.tokens, round(t.cost, 4), t.share) for t in ana.tools] == [
            ("Claude Code", 1000, 0.5, 67), ("Cursor", 500, 0.25, 33)]
        assert ana.tokens == store.reads.day_counts(TODAY, "U0ANA")["tokens"] == 1500
        assert ana.models == [("opus-4-5", 600, 40), ("gpt-5", 500, 33),
                              ("sonnet-4-5", 400, 27)]
    assert person_usage(store, day_bucket(TODAY - timedelta(days=1)), "U0ANA",
                        today=TODAY).tools == []

    org = org_usage(store, [TODAY])
    assert [(t.name, t.tokens, t.share) for t in org.tools] == [  # a tie: the costlier first
        ("Claude Code", 1000, 50), ("Cursor", 500, 25), ("Copilot", 500, 25)]
    assert sum(t.share for t in org.tools) == 100
    # a corrected vendor row replaces its day's tool fields, in the org's totals too
    record_rows(store, identities, "cursor", [cursor.event_row({
        "userEmail": "ana@example.com", "timestamp": MS, "model": "gpt-5",
        "tokenUsage": {"inputTokens": 100}})], PullResult("cursor"))
    assert [(t.name, t.tokens) for t in org_usage(store, [TODAY]).tools] == [
        ("Claude Code", 1000), ("Copilot", 500), ("Cursor", 100)]
    assert summarise(store.reads.day_counts(TODAY, "U0ANA")).tools[1].cost == 0
