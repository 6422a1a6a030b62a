"""bot.store.installations: Slack installations and OAuth state kept in Redis (slack_sdk's
store interfaces); the install asks for the manifest's scopes."""

from __future__ import annotations

import time

import redis
import yaml

from bot.store.installations import BOT_SCOPES, RedisInstallationStore, RedisOAuthStateStore
from tests.support.installations import CLIENT_ID, MANIFEST, installation


def test_install_asks_for_the_manifest_scopes() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text())
    assert list(BOT_SCOPES) == manifest["oauth_config"]["scopes"]["bot"]
    events = manifest["settings"]["event_subscriptions"]["bot_events"]
    assert {"app_uninstalled", "tokens_revoked"} <= set(events)


def test_installations_are_kept_per_team_enterprise_and_user(redis_client: redis.Redis
                                                             ) -> None:
    store = RedisInstallationStore(redis_client, CLIENT_ID)
    store.save(installation("T0AAA", user="U0ONE", user_token="xoxp-one"))
    store.save(installation("T0AAA", user="U0TWO", bot_refresh_token="xoxe-1",
                            bot_token_expires_in=43200))
    store.save(installation(None, enterprise="E0ORG"))  # an org-wide install
    bot = store.find_bot(enterprise_id=None, team_id="T0AAA")
    assert bot is not None and bot.bot_token == "xoxb-T0AAA"
    assert bot.bot_refresh_token == "xoxe-1" and bot.bot_token_expires_at > time.time()
    one = store.find_installation(enterprise_id=None, team_id="T0AAA", user_id="U0ONE")
    assert one is not None and one.user_token == "xoxp-one"
    latest = store.find_installation(enterprise_id=None, team_id="T0AAA")
    assert latest is not None and latest.user_id == "U0TWO"
    org = store.find_bot(enterprise_id="E0ORG", team_id="T0ANY", is_enterprise_install=True)
    assert org is not None and org.bot_token == "xoxb-E0ORG"
    assert store.find_bot(enterprise_id=None, team_id="T0BBB") is None
    assert {(t["enterprise_id"], t["team_id"]) for t in store.installed()} == {
        (None, "T0AAA"), ("E0ORG", None)}
    store.delete_installation(enterprise_id=None, team_id="T0AAA", user_id="U0ONE")
    assert store.find_installation(enterprise_id=None, team_id="T0AAA",
                                   user_id="U0ONE") is None
    store.delete_all(enterprise_id=None, team_id="T0AAA")
    assert store.find_bot(enterprise_id=None, team_id="T0AAA") is None
    assert store.find_installation(enterprise_id=None, team_id="T0AAA") is None
    assert store.find_installation(enterprise_id=None, team_id="T0AAA",
                                   user_id="U0TWO") is None
    assert [t["enterprise_id"] for t in store.installed()] == ["E0ORG"]


def test_oauth_state_is_single_use_and_expires(redis_client: redis.Redis) -> None:
    states = RedisOAuthStateStore(redis_client, expiration_seconds=1)
    first, second = states.issue(), states.issue()
    assert first != second
    assert states.consume(first) is True
    assert states.consume(first) is False  # single use
    assert states.consume("forged") is False
    time.sleep(1.2)
    assert states.consume(second) is False  # expired
