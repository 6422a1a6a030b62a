"""The store's Lua scripts against independent arithmetic, on a real Redis."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

import pytest
import redis

from bot.core.config import DEFAULT_OUTCOMES, BoardConfig, OutcomeRule
from bot.core.counts import Outcome
from bot.core.periods import ALL, Bucket, day_bucket, month_bucket, week_bucket
from bot.runtime.deps import Deps
from bot.sources.reports import OutcomeReport, UsageReport, as_counts
from bot.store import reads
from bot.store.store import Store
from tests.support import day_reports

SQRT3 = math.sqrt(3)
NOW = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)


def outcome(id: str, user: str, kind: str, count: int, ts: datetime) -> Outcome:
    return as_counts(OutcomeReport(id=id, type="outcome", user=user, ts=ts, kind=kind,
                                 count=count))


def test_incremental_scores_equal_scores_from_daily_totals(redis_client) -> None:
    config = BoardConfig(outcomes={
        "lin": OutcomeRule(label="L", weight=2, cap=None, transform="linear"),
        "sq": OutcomeRule(label="S", weight=3, cap=7, transform="sqrt"),
        "lg": OutcomeRule(label="G", weight=1.5, cap=4, transform="log"),
    })
    store = Store(redis_client)
    rng = random.Random(3)
    daily: dict[tuple[str, date, str], int] = defaultdict(int)
    reports = []
    for i in range(400):
        user = rng.choice(["U0A", "U0B", "U0C"])
        kind = rng.choice(list(config.outcomes))
        ts = NOW - timedelta(days=rng.randrange(5))
        count = rng.randint(1, 4)
        daily[(user, ts.date(), kind)] += count
        reports.append((outcome(f"e{i}", user, kind, count, ts), user))
    for start in range(0, len(reports), 37):  # several batches, odd size
        assert all(store.counting.record(reports[start:start + 37], config))

    def expected(kind: str, n: int) -> float:
        rule = config.outcomes[kind]
        x = min(n, rule.cap) if rule.cap else n
        f = {"linear": x, "sqrt": math.sqrt(x), "log": math.log(1 + x)}[rule.transform]
        return rule.weight * f

    totals: dict[str, float] = defaultdict(float)
    for (user, _, kind), n in daily.items():
        totals[user] += expected(kind, n)
    got = {p.user: p.points for p in store.reads.period_totals(ALL)}
    assert got.keys() == totals.keys()
    for user, value in totals.items():
        assert math.isclose(got[user], value, rel_tol=1e-9), user
    # The raw per-day counts are kept (they are what a re-scoring would start from).
    user, day, kind = next(iter(daily))
    assert store.reads.day_counts(day, user)[f"o:{kind}"] == sum(
        n for (u, d, k), n in daily.items() if (u, d, k) == (user, day, kind))


def test_one_event_touches_every_bucket_and_expires_them(redis_client) -> None:
    store = Store(redis_client, retention_days=30)
    report = as_counts(UsageReport(id="u1", type="usage", user="U0A", ts=NOW, tool="t",
                                 tokens=500, cost_usd=0.25, requests=3, input_tokens=400,
                                 output_tokens=100))
    assert store.counting.record([(report, "U0A")], BoardConfig()) == [True]
    assert store.counting.record([(report, "U0A")], BoardConfig()) == [False]
    day = NOW.date()
    for bucket in (day_bucket(day), week_bucket(day), month_bucket(day), ALL):
        assert redis_client.zscore(store.keys.board("tokens", bucket), "U0A") == 500
        assert redis_client.zscore(store.keys.board("points", bucket), "U0A") == 0
        # cost and requests: per day, week and month only while they are the raw metric
        kept = bucket is ALL
        board = store.keys.board
        assert redis_client.zscore(board("cost", bucket), "U0A") == (0.25 if kept else None)
        assert redis_client.zscore(board("requests", bucket), "U0A") == (3 if kept else None)
        ttl = redis_client.ttl(store.keys.board("tokens", bucket))
        if bucket is ALL:
            assert ttl == -1
        else:  # at least the retention period, at most retention + a month
            assert 30 * 86400 <= ttl <= 62 * 86400
    assert store.reads.day_counts(day, "U0A") == {"tokens": 500, "cost": 0.25, "requests": 3,
                                            "input_tokens": 400, "output_tokens": 100,
                                            "t:t": 500, "c:t": 2500}  # $0.25 in 1/10,000 $
    # event ids live in the sender's buckets for the report's day: retention after that day
    ids = store.keys.ids("default", day)
    assert 30 * 86400 < redis_client.ttl(ids) <= 32 * 86400 + 1
    assert 30 * 86400 < redis_client.ttl(ids + ":0") <= 32 * 86400 + 1
    assert redis_client.hlen(ids + ":0") == 1
    assert int(redis_client.get(store.keys.key("gen"))) == 1

    # With cost as the raw metric, its day, week and month sets are kept too.
    other = (NOW - timedelta(days=1)).replace(hour=3)
    cost_config = BoardConfig(raw_metric="cost")
    later = as_counts(UsageReport(id="u2", type="usage", user="U0A", ts=other, tool="t",
                                tokens=5, cost_usd=0.5, requests=1))
    assert store.counting.record([(later, "U0A")], cost_config) == [True]
    assert redis_client.zscore(store.keys.board("cost", day_bucket(other.date())), "U0A") == 0.5
    assert redis_client.zscore(store.keys.board("requests", day_bucket(other.date())),
                               "U0A") is None


def _usage(id: str, tool: str, tokens: int, cost: float = 0.0, model: str | None = None,
           user: str = "U0A"):
    return as_counts(UsageReport(id=id, type="usage", user=user, ts=NOW, tool=tool,
                                 tokens=tokens, cost_usd=cost, model=model))


def test_tools_are_kept_per_person_day_and_in_the_orgs_day_totals(redis_client) -> None:
    store = Store(redis_client, retention_days=30)
    events = [(_usage("a", "claude_code", 1000, 0.5, "claude-opus-4-5-20251101"), "U0A"),
              (_usage("b", "Cursor", 300, 0.125, "gpt-5"), "U0A"),
              (_usage("c", "cursor", 200, user="U0B"), "U0B"),
              (_usage("d", "copilot", 50, user="U0C"), "email:nobody@example.com")]
    assert store.counting.record(events, BoardConfig()) == [1, 1, 1, 1]
    day = NOW.date()
    ana = store.reads.day_counts(day, "U0A")
    assert {k: v for k, v in ana.items() if k[:2] in ("t:", "c:", "m:")} == {
        "t:cc": 1000, "c:cc": 5000, "m:opus-4-5": 1000,
        "t:cu": 300, "c:cu": 1250, "m:gpt-5": 300}
    # the org's per tool, unmapped people included (their usage is the org's too)
    assert store.reads.tool_totals([day]) == {"t:cc": 1000, "c:cc": 5000, "t:cu": 500,
                                              "c:cu": 1250, "t:cp": 50}
    assert store.reads.tool_totals([day - timedelta(days=1)]) == {}
    assert 29 * 86400 < redis_client.ttl(store.keys.tool_totals(day)) <= 32 * 86400
    # a duplicate adds nothing anywhere
    assert store.counting.record(events[:1], BoardConfig()) == [0]
    assert store.reads.tool_totals([day])["t:cc"] == 1000


def packed(redis_client, store: Store, user: str) -> str:
    """The person's packed day of NOW as stored, its pieces joined."""
    text = ""
    for key in sorted(redis_client.scan_iter(match=f"{store.keys.days(NOW.date())}:*")):
        for field, value in sorted(redis_client.hgetall(key).items()):
            if field.decode().split("|")[0] == user:
                text += "," + value.decode()[1 if "|" not in field.decode() else 0:]
    return text


def test_a_tool_or_model_holding_the_whole_day_is_packed_bare(redis_client) -> None:
    store = Store(redis_client, retention_days=30)
    store.counting.record([(_usage("a", "claude_code", 1000, 0.5, "claude-opus-4-5"), "U0A")],
                          BoardConfig())
    items = packed(redis_client, store, "U0A").split(",")
    assert {"t:cc", "c:cc", "m:opus-4-5"} <= set(items)  # the day's own tokens and cost
    day = store.reads.day_counts(NOW.date(), "U0A")
    assert (day["t:cc"], day["c:cc"], day["m:opus-4-5"]) == (1000, 5000, 1000)
    store.counting.record([(_usage("b", "cursor", 24, 0.0004, "gpt-5"), "U0A")],
                          BoardConfig())
    items = packed(redis_client, store, "U0A").split(",")
    assert {"t:cc=1000", "c:cc=5000", "m:opus-4-5=1000", "t:cu=24", "c:cu=4",
            "m:gpt-5=24"} <= set(items)
    day = store.reads.day_counts(NOW.date(), "U0A")
    assert {k: v for k, v in day.items() if ":" in k} == {
        "t:cc": 1000, "c:cc": 5000, "m:opus-4-5": 1000, "t:cu": 24, "c:cu": 4, "m:gpt-5": 24}
    assert day["tokens"] == 1024 and day["cost"] == 0.5004


def test_a_person_day_keeps_three_models_and_the_rest_as_other(redis_client) -> None:
    store = Store(redis_client, retention_days=30)
    for i, model in enumerate(["m1", "m2", "m3", "m4", "m5"]):  # one call each: in order
        store.counting.record([(_usage(f"e{i}", "codex", 10 * (i + 1), model=model), "U0A")],
                              BoardConfig())
    store.counting.record([(_usage("again", "codex", 7, model="m2"), "U0A"),
                           (_usage("more", "codex", 1, model="m6"), "U0A")], BoardConfig())
    day = store.reads.day_counts(NOW.date(), "U0A")
    assert {k: v for k, v in day.items() if k.startswith("m:")} == {
        "m:m1": 10, "m:m2": 27, "m:m3": 30, "m:other": 40 + 50 + 1}
    assert day["tokens"] == day["t:cx"] == 10 + 20 + 30 + 40 + 50 + 7 + 1


@pytest.mark.parametrize("n, buckets", [(32, 1), (33, 2)])
def test_event_ids_and_days_split_into_a_new_bucket_past_32_entries(
        redis_client, n: int, buckets: int) -> None:
    """32 entries a bucket (docs/architecture.md, Storage): 32 event ids of one sender's
    day, and 32 people's counts of one day, stay in one small hash; the 33rd splits it."""
    store = Store(redis_client, retention_days=30)
    store.counting.record([(_usage(f"e{i}", "t", 10, 0.0, None), f"U0{i:03d}")
                           for i in range(n)], BoardConfig())
    day = NOW.date()
    for directory in (store.keys.ids("default", day), store.keys.days(day)):
        level, split = (int(x or 0) for x in redis_client.hmget(directory, "l", "s"))
        assert 2 ** level + split == buckets
        assert len(list(redis_client.scan_iter(match=f"{directory}:*"))) == buckets


def test_keys_carry_the_workspace_hash_tag(redis_client) -> None:
    store = Store(redis_client, workspace="T0123")
    report = as_counts(UsageReport(id="u1", type="usage", user="U0A", ts=NOW, tool="t", tokens=1))
    store.counting.record([(report, "U0A")], BoardConfig())
    keys = store.dump_keys()
    assert keys and all(k.startswith("tb:{T0123}:") for k in keys)


def test_period_totals_pages_through_large_boards(redis_client) -> None:
    store = Store(redis_client)
    key = store.keys.board("tokens", ALL)
    points = store.keys.board("points", ALL)
    n = 12_345  # more than two READ_CHUNK pages
    pipe = redis_client.pipeline()
    pipe.zadd(key, {f"U{i:06d}": i for i in range(n)})
    pipe.zadd(points, {f"U{i:06d}": i % 7 for i in range(n)})
    pipe.execute()
    people = {p.user: p for p in store.reads.period_totals(ALL)}
    assert len(people) == n
    assert people["U012344"].tokens == 12344 and people["U012344"].points == 12344 % 7
    assert store.reads.scores(points) == {f"U{i:06d}": float(i % 7) for i in range(n)}


def test_a_large_board_is_read_a_few_pages_at_a_time(
        redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    """Redis runs one client's pipelined commands back to back: the pages of a large
    board go PAGES_PER_TRIP to a pipeline, so others' commands are served between."""
    store = Store(redis_client)
    n, page = 1_000, 10
    monkeypatch.setattr(reads, "READ_CHUNK", page)
    monkeypatch.setattr(reads, "PAGES_PER_TRIP", 4)
    redis_client.zadd(store.keys.board("tokens", ALL), {f"U{i:04d}": i for i in range(n)})
    redis_client.zadd(store.keys.board("points", ALL), {f"U{i:04d}": 1 for i in range(0, n, 2)})
    sent: list[int] = []
    execute = redis.client.Pipeline.execute

    def counted(pipe: redis.client.Pipeline, *args: object, **kwargs: object) -> object:
        sent.append(len(pipe.command_stack))
        return execute(pipe, *args, **kwargs)

    monkeypatch.setattr(redis.client.Pipeline, "execute", counted)
    people = {p.user: p for p in store.reads.period_totals(ALL)}
    assert {u: (p.tokens, p.points) for u, p in people.items()} == {
        f"U{i:04d}": (i, 0 if i % 2 else 1) for i in range(n)}
    # the sizes, then 100 + 50 pages four to a pipeline
    assert sent == [2] + [4] * 37 + [2]


def bucket_points(deps: Deps, bucket: Bucket) -> dict[str, float]:
    return {p.user: p.points for p in deps.store.reads.period_totals(bucket)}


def test_rebuild_keeps_ttls_and_points_of_expired_days(deps: Deps,
                                                       redis_client: redis.Redis) -> None:
    store = deps.store
    today = datetime.now(UTC).date()
    monday = today - timedelta(days=today.weekday() + 7)  # last week's Monday
    d1, d2 = monday, monday + timedelta(days=1)  # same ISO week
    on = day_reports.outcome
    day_reports.record(deps, [on("e1", "U0A", d1, "pr_merged", 1),
                              on("e2", "U0A", d2, "pr_merged", 1),
                              on("e3", "U0B", d1, "review", 3), on("e4", "U0B", d2, "review", 3)])
    # Set known TTLs by hand on the buckets that must keep theirs.
    ttls = {}
    for i, bucket in enumerate((day_bucket(d2), week_bucket(d2), month_bucket(d2))):
        for metric in ("points", "tokens"):
            key = store.keys.board(metric, bucket)
            ttls[key] = 500_000 + 1000 * i
            redis_client.expire(key, ttls[key])
    # Day d1 passes retention: its counts and day sets expire.
    redis_client.delete(*redis_client.keys(store.keys.days(d1) + "*"),
                        *(store.keys.board(m, day_bucket(d1))
                          for m in ("tokens", "cost", "requests", "points")))

    new = BoardConfig(outcomes={**DEFAULT_OUTCOMES, "pr_merged": OutcomeRule(
        label="PRs merged", weight=8, cap=10)})
    stats = store.rescoring.rebuild_points(new)
    assert stats["days"] == 1  # only d2 is still kept

    # d1 keeps its old points (A 5, B 2·√3); d2 is rescored (A 8, B 2·√3).
    assert bucket_points(deps, ALL) == pytest.approx({"U0A": 13, "U0B": 4 * SQRT3})
    assert bucket_points(deps, week_bucket(d2)) == pytest.approx({"U0A": 13, "U0B": 4 * SQRT3})
    same_month = d1.month == d2.month
    assert bucket_points(deps, month_bucket(d2)) == pytest.approx(
        {"U0A": 13 if same_month else 8, "U0B": (4 if same_month else 2) * SQRT3})
    assert bucket_points(deps, day_bucket(d2)) == pytest.approx({"U0A": 8, "U0B": 2 * SQRT3})
    assert store.reads.day_counts(d2, "U0A") == {"o:pr_merged": 1.0}  # raw counts untouched

    keys = store.dump_keys()
    assert [k for k in keys if "rebuild" in k] == []
    for key, ttl in ttls.items():
        assert ttl - 60 <= redis_client.ttl(key) <= ttl, key
    assert redis_client.ttl(store.keys.board("points", ALL)) == -1


def test_a_persons_days_are_summed_in_one_read(redis_client) -> None:
    store = Store(redis_client, retention_days=30)
    yesterday = NOW - timedelta(days=1)
    events = [(_usage("a", "cursor", 100), "U0A"),
              (as_counts(UsageReport(id="b", type="usage", user="U0A", ts=yesterday,
                                     tool="cursor", tokens=20)), "U0A"),
              (as_counts(OutcomeReport(id="c", type="outcome", user="U0A", ts=yesterday,
                                       kind="review", count=2)), "U0A")]
    assert store.counting.record(events, BoardConfig()) == [1, 1, 1]
    days = [NOW.date() - timedelta(days=k) for k in range(3)]  # the oldest has nothing
    assert store.reads.summed_day_counts(days, "U0A") == {
        "tokens": 120, "cost": 0, "requests": 2, "t:cu": 120, "o:review": 2}
    assert store.reads.summed_day_counts([], "U0A") == {}
    assert store.reads.summed_day_counts(days, "U0NOBODY") == {}
