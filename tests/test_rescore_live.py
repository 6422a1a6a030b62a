"""Rescoring while reports stream in: /ingest never answers 503 for it, and every report
counts exactly once under the new weights (checked against arithmetic on what was sent)."""

from __future__ import annotations

import math
import random
import threading
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

import pytest
import redis

from bot.core.config import BoardConfig, OutcomeRule
from bot.core.periods import ALL, buckets_for_day
from bot.core.settings import Settings
from bot.intake.scoring import rebuild_scores, save_configuration
from bot.runtime.app import build_deps
from bot.sources.reports import OutcomeReport, UsageReport
from bot.sources.reports import as_counts as as_event
from tests.conftest import App
from tests.slack_stub import SlackStub

pytestmark = pytest.mark.slow  # starts the app's HTTP server

ADMIN = "U0ADMIN"
PEOPLE = [f"U0P{i:04d}" for i in range(300)]
NEWCOMERS = [f"U0NEW{i:02d}" for i in range(20)]  # first seen while the rebuild runs
LINKED = "U0LEE"
LEE = "lee@example.com"  # no Slack account answers for it: kept unmapped, then linked
TODAY = datetime.now(UTC).date()
DAYS = [TODAY - timedelta(days=k) for k in range(1, 11)]  # 300 × 10 person-days at start
OLD = BoardConfig(outcomes={
    "pr_merged": OutcomeRule(label="PRs", weight=5, cap=10, transform="sqrt"),
    "review": OutcomeRule(label="Reviews", weight=2, cap=6, transform="sqrt"),
    "commit": OutcomeRule(label="Commits", weight=1, cap=20, transform="log"),
})
NEW = BoardConfig(outcomes={
    "pr_merged": OutcomeRule(label="PRs", weight=8, cap=4, transform="sqrt"),
    "review": OutcomeRule(label="Reviews", weight=3, cap=None, transform="linear"),
    "commit": OutcomeRule(label="Commits", weight=0.5, cap=20, transform="log"),
})


def rule_points(config: BoardConfig, kind: str, n: int) -> float:
    rule = config.outcomes[kind]
    x = min(n, rule.cap) if rule.cap else n
    return rule.weight * {"linear": x, "sqrt": math.sqrt(x), "log": math.log(1 + x)}[
        rule.transform]


class Sent:
    """What was counted, per person and day (only answers that said so)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.tokens: dict[tuple[str, date], int] = defaultdict(int)
        self.outcomes: dict[tuple[str, date, str], int] = defaultdict(int)

    def add(self, who: str, day: date, event: dict) -> None:
        with self.lock:
            if event["type"] == "usage":
                self.tokens[(who, day)] += event["tokens"]
            else:
                self.outcomes[(who, day, event["kind"])] += event["count"]
                self.tokens[(who, day)] += 0

    def points(self, config: BoardConfig) -> dict[tuple[str, date], float]:
        out: dict[tuple[str, date], float] = defaultdict(float)
        for (who, day), _ in self.tokens.items():
            out[(who, day)] += 0.0
        for (who, day, kind), n in self.outcomes.items():
            out[(who, day)] += rule_points(config, kind, n)
        return out


def event(rng: random.Random, n: int, prefix: str) -> tuple[str, date, dict]:
    """A report of a random person (or Lee by email) on a random day of DAYS."""
    day = rng.choice(DAYS)
    ts = datetime.combine(day, time(12), UTC).isoformat()
    roll = rng.random()
    who = LINKED if roll < 0.05 else rng.choice(NEWCOMERS if roll < 0.15 else PEOPLE)
    sender = {"email": LEE} if who == LINKED else {"user": who}
    if rng.random() < 0.5:
        body = {"type": "usage", "tool": "t", "tokens": rng.randint(1, 5000)}
    else:
        body = {"type": "outcome", "kind": rng.choice(list(OLD.outcomes)),
                "count": rng.randint(1, 3)}
    return who, day, {"id": f"{prefix}-{n}", "ts": ts, **sender, **body}


@pytest.fixture
def live_app(settings: Settings, redis_client: redis.Redis, stub: SlackStub) -> Iterator[App]:
    deps = build_deps(replace(settings, admin_user_ids=(ADMIN,), ingest_rate_limit=0),
                      redis_client)
    running = App(deps, stub)
    yield running
    running.stop()


def test_reports_during_a_rescore_count_once_under_the_new_weights(live_app: App) -> None:
    store = live_app.deps.store
    assert save_configuration(store, OLD, by=ADMIN).version == 1
    sent = Sent()
    rng = random.Random(9)
    # Before: every person active on every day, scored with the old weights.
    reports = []
    for day in DAYS:
        ts = datetime.combine(day, time(9), UTC)
        for user in PEOPLE:
            tokens = rng.randint(1, 10_000)
            reports.append((UsageReport(id=f"u-{user}-{day}", type="usage", user=user, ts=ts,
                                        tool="t", tokens=tokens), user))
            sent.add(user, day, {"type": "usage", "tokens": tokens})
            for kind in rng.sample(list(OLD.outcomes), rng.randint(0, 3)):
                count = rng.randint(1, 6)
                reports.append((OutcomeReport(id=f"o-{user}-{day}-{kind}", type="outcome",
                                              user=user, ts=ts, kind=kind, count=count), user))
                sent.add(user, day, {"type": "outcome", "kind": kind, "count": count})
    config, version = store.configs.load_versioned()
    for start in range(0, len(reports), 1000):
        batch = [(as_event(r), who) for r, who in reports[start:start + 1000]]
        assert set(store.counting.record(batch, config, version)) == {1}

    assert save_configuration(store, NEW, by=ADMIN).scoring
    stop = threading.Event()
    batches = threading.Condition()
    done = [0]
    answers: dict[int, int] = defaultdict(int)
    failures: list[str] = []

    def ingest(worker: int) -> None:
        wrng = random.Random(worker)
        n = 0
        while not stop.is_set():
            batch = [event(wrng, n + i, f"w{worker}") for i in range(25)]
            n += 25
            for attempt in range(2):  # the second time, a retry of the same batch
                answer = live_app.ingest([e for _, _, e in batch])
                with sent.lock:
                    answers[answer.status] += 1
                if answer.status != 200:
                    failures.append(f"{answer.status} {answer.body[:200]!r}")
                    return
                body = answer.json()
                expected = {"accepted": 0 if attempt else 25, "duplicates": 25 if attempt else 0,
                            "rejected": []}
                if {k: body[k] for k in expected} != expected:
                    failures.append(repr(body))
                    return
                if attempt == 0:
                    for who, day, e in batch:
                        sent.add(who, day, e)
                if wrng.random() < 0.7:
                    break
            with batches:
                done[0] += 1
                batches.notify_all()

    def wait_for_batches(k: int) -> None:
        """Let the ingest threads count k more batches before the rebuild goes on."""
        with batches:
            target = done[0] + k
            assert batches.wait_for(lambda: done[0] >= target or failures, timeout=30)

    steps: list[int] = []

    def progress(step: int, total: int) -> None:
        steps.append(step)
        wait_for_batches(2)
        if step == total // 2:  # Lee is linked mid-rebuild: kept days are credited
            live_app.deps.identities.link(LINKED, f"email:{LEE}")

    workers = [threading.Thread(target=ingest, args=(w,)) for w in range(3)]
    for w in workers:
        w.start()
    try:
        wait_for_batches(3)
        stats = rebuild_scores(store, progress)
        wait_for_batches(3)
    finally:
        stop.set()
        for w in workers:
            w.join()
    # Reports of Lee's that resolved to nobody just before the link landed after its
    # credit: linking again credits them (as an admin would).
    live_app.deps.identities.credit(f"email:{LEE}", LINKED)

    assert failures == []
    assert set(answers) == {200}  # never a 503 (or anything else) during the rescore
    assert stats and stats["person_days"] >= len(PEOPLE) * len(DAYS)
    assert len(steps) > len(DAYS)  # the days, then the weeks, months and all-time
    assert store.configs.scored_version() == 2

    r = store.r
    points = sent.points(NEW)
    counted = {who for who, _ in points}
    assert LINKED in counted and len(counted & set(NEWCOMERS)) >= len(NEWCOMERS) // 2
    for day in DAYS:
        day_b = buckets_for_day(day)[0]
        expected = {who: p for (who, d), p in points.items() if d == day}
        got = dict(r.zrange(store.keys.board("points", day_b), 0, -1, withscores=True))
        assert {m.decode(): s for m, s in got.items()} == pytest.approx(expected, rel=1e-9)
        tokens = {who: t for (who, d), t in sent.tokens.items() if d == day}
        got = dict(r.zrange(store.keys.board("tokens", day_b), 0, -1, withscores=True))
        assert {m.decode(): int(s) for m, s in got.items()} == tokens
    periods = {b for day in DAYS for b in buckets_for_day(day)[1:]}
    for bucket in periods:
        expected = defaultdict(float)
        for (who, day), p in points.items():
            if bucket in buckets_for_day(day):
                expected[who] += p
        got = dict(r.zrange(store.keys.board("points", bucket), 0, -1, withscores=True))
        assert {m.decode(): s for m, s in got.items()} == pytest.approx(dict(expected),
                                                                        rel=1e-9), bucket
    all_tokens = defaultdict(int)
    for (who, _), t in sent.tokens.items():
        all_tokens[who] += t
    got = dict(r.zrange(store.keys.board("tokens", ALL), 0, -1, withscores=True))
    assert {m.decode(): int(s) for m, s in got.items()} == dict(all_tokens)
    assert [k for k in store.dump_keys() if "rebuild" in k] == []
