"""The daily digest delivered exactly once: a dead process's claim expiring, a post whose
ts was never recorded found in history, restarts, and Slack failures (rate limits, a
channel without the bot, no files:write).

Real Redis and the Slack stub only. Every expected ranking, move, ρ and efficiency below
is worked out by hand from the small fixture org (tests/support/digest_org.py), not read
back from the code.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import date, timedelta

import redis

from bot.runtime.deps import Deps
from handlers.home import publish_home
from jobs.digest import DigestRunner
from tests.slack_stub import SlackStub
from tests.support.digest_org import (
    add_names,
    local,
    make_deps,
    seed,
)
from tests.support.digest_posts import (
    decoded,
    posted_dates,
    posts,
)
from tests.support.digests import CHANNEL, DAY


def wait_until(fn, timeout: float = 10.0, step: float = 0.05):
    """Poll fn until it returns something truthy (a wait, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


# -- exactly once ----------------------------------------------------------------------------

SMALL_ORG = {"U0ANA": (900_000, {}), "U0DEV": (300_000, {"pr_merged": 4})}


def test_claim_of_a_dead_process_expires_then_the_digest_is_posted_once(
        settings, redis_client, stub) -> None:
    deps = make_deps(settings, redis_client)
    add_names(stub)
    seed(deps, local(DAY, 12), SMALL_ORG)
    # A process claimed the day, marked its attempt, and was killed before posting.
    assert deps.store.digests.claim(CHANNEL, DAY, "dead", ttl=1)
    deps.store.digests.mark_attempt(CHANNEL, DAY)
    runner = DigestRunner(deps, owner="alive")
    first = runner.run(DAY)
    assert first.status == "claimed_elsewhere"
    assert posts(stub) == []

    def run_until_claim_expired():
        outcome = runner.run(DAY)
        return outcome if outcome.status != "claimed_elsewhere" else None

    outcome = wait_until(run_until_claim_expired)
    assert outcome and outcome.status == "posted"
    assert posted_dates(stub) == ["2026-11-24"]
    # The dead process had marked an attempt, so the history was checked first.
    assert len(stub.calls("conversations.history")) == 1
    assert runner.run(DAY).status == "already_posted"
    assert DigestRunner(deps, owner="third").run(DAY).status == "already_posted"
    assert len(posts(stub)) == 1
    assert deps.store.digests.posted(CHANNEL, DAY) == outcome.ts


def test_a_post_whose_ts_was_never_recorded_is_found_in_history(settings, redis_client,
                                                                 stub) -> None:
    deps = make_deps(settings, redis_client)
    seed(deps, local(DAY, 12), SMALL_ORG)
    client = deps.client
    assert client is not None

    def digest_message(day: date) -> str:
        return client.chat_postMessage(
            channel=CHANNEL, text=f"Daily AI leaderboard {day}",
            metadata={"event_type": "tokenboard_digest",
                      "event_payload": {"date": day.isoformat(), "workspace": "default"}},
        )["ts"]

    # The process posted the digest, then died before recording the ts; its claim
    # expired. Other messages follow it in the channel.
    dead_ts = digest_message(DAY)
    deps.store.digests.mark_attempt(CHANNEL, DAY)
    digest_message(DAY - timedelta(days=1))
    client.chat_postMessage(channel=CHANNEL, text="unrelated chatter")
    before = len(posts(stub))

    outcome = DigestRunner(deps).run(DAY)
    assert outcome.status == "already_posted" and outcome.ts == dead_ts
    assert len(posts(stub)) == before
    assert deps.store.digests.posted(CHANNEL, DAY) == dead_ts
    assert DigestRunner(deps).run(DAY).status == "already_posted"
    assert len(posts(stub)) == before


def test_an_attempt_marker_without_a_matching_message_posts(settings, redis_client,
                                                            stub) -> None:
    deps = make_deps(settings, redis_client)
    client = deps.client
    assert client is not None
    # History holds the digest of another day only.
    client.chat_postMessage(channel=CHANNEL, text="yesterday's digest",
                            metadata={"event_type": "tokenboard_digest",
                                      "event_payload": {"date": "2026-11-23",
                                                        "workspace": "default"}})
    deps.store.digests.mark_attempt(CHANNEL, DAY)
    assert DigestRunner(deps).run(DAY).status == "posted"
    assert posted_dates(stub) == ["2026-11-23", "2026-11-24"]


def test_restart_after_posting_does_not_post_again_and_force_does(settings, redis_client,
                                                                  redis_url, stub) -> None:
    deps = make_deps(settings, redis_client)
    seed(deps, local(DAY, 12), SMALL_ORG)
    first = DigestRunner(deps).run(DAY)
    assert first.status == "posted"

    restarted_client = redis.Redis.from_url(redis_url)
    try:
        restarted = make_deps(settings, restarted_client)
        again = DigestRunner(restarted).run(DAY)
        assert again.status == "already_posted" and again.ts == first.ts
        assert posted_dates(stub) == ["2026-11-24"]
        forced = DigestRunner(restarted).run(DAY, force=True)
        assert forced.status == "posted" and forced.ts != first.ts
        assert posted_dates(stub) == ["2026-11-24", "2026-11-24"]
    finally:
        restarted_client.close()


# -- Slack failures ----------------------------------------------------------------------------


def channel_messages(deps: Deps) -> list[dict]:
    assert deps.client is not None
    return deps.client.conversations_history(channel=CHANNEL)["messages"]


def test_rate_limited_post_is_retried_after_retry_after_and_posted_once(
        settings, redis_client, stub) -> None:
    deps = make_deps(settings, redis_client)
    stub.fail_next("chat.postMessage", error="ratelimited", status=429,
                   headers={"Retry-After": "1"})
    outcome = DigestRunner(deps).run(DAY)
    assert outcome.status == "posted"
    assert len(stub.calls("chat.postMessage")) == 2  # the 429, then the successful retry
    assert len(channel_messages(deps)) == 1
    assert deps.store.digests.posted(CHANNEL, DAY) == outcome.ts


def home_text(stub: SlackStub, user: str) -> str:
    call = [c for c in stub.calls("views.publish") if c.args["user_id"] == user][-1]
    return json.dumps(decoded(call.args["view"]), ensure_ascii=False)


def test_not_in_channel_is_not_retried_and_shown_to_admins_until_a_post_succeeds(
        settings, redis_client, stub, caplog) -> None:
    caplog.set_level(logging.INFO)
    deps = make_deps(settings, redis_client, admin_user_ids=("U0ADMIN",))
    stub.add_user("U0ADMIN", display_name="Admin")
    stub.add_user("U0VIEWER", display_name="Viewer")
    stub.fail_next("chat.postMessage", error="not_in_channel")

    outcome = DigestRunner(deps).run(DAY)
    assert outcome.status == "failed" and outcome.error == "not_in_channel"
    assert len(stub.calls("chat.postMessage")) == 1
    assert deps.store.digests.posted(CHANNEL, DAY) is None
    assert any(r.levelno >= logging.ERROR and "not_in_channel" in r.getMessage()
               for r in caplog.records)

    assert deps.client is not None
    publish_home(deps, deps.client, "U0ADMIN")
    publish_home(deps, deps.client, "U0VIEWER")
    assert "not_in_channel" in home_text(stub, "U0ADMIN")
    assert "not_in_channel" not in home_text(stub, "U0VIEWER")

    # The bot is invited; the next run posts and the error disappears from App Home.
    assert DigestRunner(deps).run(DAY).status == "posted"
    assert len(stub.calls("chat.postMessage")) == 2
    assert len(channel_messages(deps)) == 1
    publish_home(deps, deps.client, "U0ADMIN")
    assert "not_in_channel" not in home_text(stub, "U0ADMIN")


def test_missing_files_write_posts_the_digest_without_the_chart(
        settings, redis_client, stub, caplog, monkeypatch) -> None:
    monkeypatch.setattr(DigestRunner, "_upload_warned", False)  # "once per process"
    caplog.set_level(logging.INFO)
    deps = make_deps(settings, redis_client)
    seed(deps, local(DAY, 12), SMALL_ORG)
    seed(deps, local(DAY - timedelta(days=1), 12), SMALL_ORG, prefix="prev-")
    stub.fail_next("files.getUploadURLExternal", error="missing_scope", times=2)

    outcome = DigestRunner(deps).run(DAY)
    assert outcome.status == "posted"
    assert posted_dates(stub) == ["2026-11-24"]
    assert len(stub.calls("files.getUploadURLExternal")) == 1
    assert stub.uploads() == {} and stub.calls("files.completeUploadExternal") == []
    warnings = [r for r in caplog.records
                if r.levelno == logging.WARNING and "missing_scope" in r.getMessage()]
    assert len(warnings) == 1
    assert deps.store.digests.error() is None  # the digest itself went out

    # The next digest with the same problem: posted, and the warning is not repeated.
    assert DigestRunner(deps).run(DAY - timedelta(days=1)).status == "posted"
    assert len(stub.calls("files.getUploadURLExternal")) == 2
    assert len([r for r in caplog.records
                if r.levelno == logging.WARNING and "missing_scope" in r.getMessage()]) == 1
