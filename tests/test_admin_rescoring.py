"""What a saved configuration changes later: past periods rescored while ingest goes on,
a schedule change reaching another process, and the digest's note of a weight change.

Real Redis and the Slack stub only. Every expected number is worked out by hand in the
comments next to it (points per person per day = weight × transform(min(count, cap))).
"""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import redis

from bot.core.config import OutcomeRule
from bot.core.settings import Settings
from bot.intake.scoring import save_configuration
from bot.runtime.app import build_deps
from bot.sources.reports import OutcomeReport, as_counts
from bot.store.store import COUNTED, STALE_CONFIG
from jobs.digest import DigestRunner
from jobs.scheduler import DigestScheduler
from tests.conftest import ADMIN, App
from tests.rendered import shown
from tests.slack_stub import SlackStub
from tests.support.admin import outcome_points
from tests.support.day_reports import outcome, record
from tests.support.digest_posts import posted_dates, posts
from tests.support.digests import CHANNEL


@pytest.mark.slow
def test_ingest_goes_on_while_scores_are_rebuilt_and_uses_new_weights(admin_app: App) -> None:
    deps, store, r = admin_app.deps, admin_app.deps.store, admin_app.deps.store.r
    now = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    events = [{"id": "x1", "type": "usage", "user": "U0A", "ts": now, "tool": "t",
               "tokens": 1000},
              {"id": "x2", "type": "outcome", "user": "U0A", "ts": now, "kind": "pr_merged",
               "count": 1}]
    # A rebuild (of another process) is running: reports are counted all the same.
    _, version = store.configs.load_versioned()
    r.hset(store.keys.rebuild(), mapping={"token": "someone-else", "version": version,
                                          "metric": "points"})
    assert admin_app.ingest(events).json() == {"accepted": 2, "duplicates": 0, "rejected": []}
    r.delete(store.keys.rebuild())
    assert admin_app.ingest(events).json() == {"accepted": 0, "duplicates": 2, "rejected": []}
    assert outcome_points(deps, "today") == pytest.approx({"U0A": 5})  # 5·√1

    # Raise the weight without rebuilding: new events score with it at once.
    old_config, old_version = store.configs.load_versioned()
    result = save_configuration(store, old_config.model_copy(update={"outcomes": {
        **old_config.outcomes, "pr_merged": OutcomeRule(label="PRs merged", weight=8,
                                                        cap=10)}}), by=ADMIN)
    assert result.version == old_version + 1 and result.scoring
    more = [{"id": "x3", "type": "outcome", "user": "U0C", "ts": now, "kind": "pr_merged",
             "count": 1}]
    assert admin_app.ingest(more).json()["accepted"] == 1
    assert outcome_points(deps, "today")["U0C"] == pytest.approx(8)  # 8·√1

    # A writer still holding the old version is told to reload, and writes nothing.
    ts = datetime.now(UTC) - timedelta(minutes=1)
    stale = as_counts(OutcomeReport(id="x4", type="outcome", user="U0D", ts=ts,
                                    kind="pr_merged"))
    assert store.counting.record([(stale, "U0D")], old_config, old_version) == [STALE_CONFIG]
    assert "U0D" not in outcome_points(deps, "today")
    assert store.counting.record([(stale, "U0D")], *store.configs.load_versioned()) == [COUNTED]


# -- schedule changes across processes ----------------------------------------------------------


def test_schedule_change_reaches_another_process_which_posts_once(
        settings: Settings, redis_client: redis.Redis, redis_url: str,
        stub: SlackStub) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    # No channel at start-up, so the catch-up each start() queues posts nothing.
    proc_settings = replace(settings, timezone="Europe/Berlin", digest_channel="",
                            digest_time="09:00")
    clients = [redis.Redis.from_url(redis_url) for _ in range(2)]
    first, second = (build_deps(proc_settings, c) for c in clients)
    schedulers = [DigestScheduler(d, DigestRunner(d, owner=f"proc-{i}"))
                  for i, d in enumerate((first, second))]
    # Three hours from now (local): never within the catch-up window at the save, and not
    # due while the test runs.
    new_local = datetime.now(berlin) + timedelta(hours=3)
    new_time = f"{new_local:%H:%M}"
    try:
        for s in schedulers:
            s.start()
        old_config = first.store.configs.load()
        result = save_configuration(first.store, old_config.model_copy(update={
            "digest_time": new_time, "digest_channel": CHANNEL}), by=ADMIN)
        assert result.version == 1
        assert f"digest time none → {new_time}" in result.changes

        assert schedulers[1].sync() is True  # the other process re-reads the schedule
        assert schedulers[1].sync() is False
        job = schedulers[1].scheduler.get_job("digest")
        assert job is not None
        fire_at = job.next_run_time.astimezone(berlin)
        assert f"{fire_at:%H:%M}" == new_time
        assert timedelta(0) < fire_at - datetime.now(berlin) <= timedelta(hours=4)  # DST: ±1h
        assert schedulers[0].sync() is True
        first_job = schedulers[0].scheduler.get_job("digest")
        assert first_job is not None and first_job.next_run_time == job.next_run_time
    finally:
        for s in schedulers:
            s.stop()

    # Both fire at that instant: exactly one post, for the local day before.
    barrier = threading.Barrier(2)
    statuses: list[str] = []

    def fire(scheduler: DigestScheduler) -> None:
        barrier.wait(timeout=10)
        done = scheduler.fire(now=fire_at)
        statuses.append(done.status if done else "none")

    threads = [threading.Thread(target=fire, args=(s,)) for s in schedulers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    for c in clients:
        c.close()
    assert sorted(statuses)[-1] == "posted" and statuses.count("posted") == 1
    assert set(statuses) <= {"posted", "claimed_elsewhere", "already_posted"}
    assert posted_dates(stub) == [(fire_at.date() - timedelta(days=1)).isoformat()]
    assert posts(stub)[0]["channel"] == CHANNEL


# -- the digest mentions weight changes ----------------------------------------------------------


def test_digest_mentions_a_weight_change_since_the_previous_digest(
        settings: Settings, redis_client: redis.Redis, stub: SlackStub) -> None:
    deps = build_deps(replace(settings, digest_channel=CHANNEL), redis_client)
    today = datetime.now(UTC).date()
    yesterday = today - timedelta(days=1)
    record(deps, [outcome("p1", "U0A", yesterday, "pr_merged", 1),
                  outcome("p2", "U0B", today, "review", 1)])
    config = deps.store.configs.load()
    save_configuration(deps.store, config.model_copy(update={
        "display": "anonymous",
        "outcomes": {**config.outcomes, "pr_merged": OutcomeRule(label="PRs merged", weight=8,
                                                                 cap=10)}}), by=ADMIN)
    runner = DigestRunner(deps)
    built = runner.build(yesterday, with_chart=False)
    text = shown(json.dumps(built.blocks, ensure_ascii=False))
    assert "Scoring changed since the last digest" in text
    assert "pr_merged weight 5 → 8" in text
    assert "display" not in text.lower().split("scoring changed")[1]  # not a scoring change

    assert runner.run(yesterday).status == "posted"
    assert "pr_merged weight 5 → 8" in shown(json.dumps(posts(stub)[0]["blocks"],
                                                         ensure_ascii=False))
    # The next digest has already announced nothing new.
    later = shown(json.dumps(runner.build(today, with_chart=False).blocks, ensure_ascii=False))
    assert "Scoring changed" not in later and "pr_merged weight" not in later


def test_weight_change_before_a_quiet_day_is_still_announced(
        settings: Settings, redis_client: redis.Redis, stub: SlackStub) -> None:
    deps = build_deps(replace(settings, digest_channel=CHANNEL), redis_client)
    today = datetime.now(UTC).date()
    record(deps, [outcome("p1", "U0A", today, "pr_merged", 1)])
    config = deps.store.configs.load()
    save_configuration(deps.store, config.model_copy(update={"outcomes": {
        **config.outcomes, "pr_merged": OutcomeRule(label="PRs merged", weight=8, cap=10)}}),
        by=ADMIN)
    runner = DigestRunner(deps)
    assert runner.run(today - timedelta(days=1)).status == "posted"  # a quiet day
    announced = [p for p in posts(stub) if "pr_merged weight 5 → 8" in shown(json.dumps(
        p["blocks"], ensure_ascii=False))]
    if not announced:  # then at least the next digest must say it
        announced = [b for b in runner.build(today, with_chart=False).blocks
                     if "pr_merged weight 5 → 8" in shown(json.dumps(b, ensure_ascii=False))]
    assert announced
