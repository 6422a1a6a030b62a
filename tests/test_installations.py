"""Installations and OAuth state in Redis (bot/installations.py), against a real Redis
and the real cluster, through slack_sdk's interfaces and Bolt's authorization."""

from __future__ import annotations

import time

import pytest
import redis
from slack_bolt.authorization.authorize import InstallationStoreAuthorize
from slack_bolt.context import BoltContext
from slack_sdk import WebClient
from slack_sdk.oauth.installation_store import Installation

from bot.installations import RedisInstallationStore, RedisOAuthStateStore, oauth_settings
from tests.slack_stub import BOT_USER_ID, SlackStub


@pytest.fixture(params=["single", "cluster"])
def client(request: pytest.FixtureRequest) -> redis.Redis:
    return request.getfixturevalue("redis_client" if request.param == "single"
                                   else "cluster_client")


def installation(user: str, bot_token: str = "xoxb-1", team: str | None = "T0AAA",
                 enterprise: str | None = None, **extra: object) -> Installation:
    return Installation(app_id="A0APP", enterprise_id=enterprise, team_id=team,
                        bot_token=bot_token, bot_id="B0BOT", bot_user_id="U0BOT",
                        bot_scopes=["commands", "chat:write"], user_id=user,
                        user_token=f"xoxp-{user}", user_scopes=["search:read"],
                        is_enterprise_install=team is None, **extra)


def test_bot_and_user_tokens_per_workspace_and_user(client: redis.Redis) -> None:
    store = RedisInstallationStore(client)
    store.save(installation("U0ANA"))
    store.save(installation("U0BEN", team="T0BBB", bot_token="xoxb-2"))
    store.save(installation("U0CAI", bot_token="xoxb-3"))  # a later install in T0AAA

    assert store.find_bot(enterprise_id=None, team_id="T0AAA").bot_token == "xoxb-3"
    assert store.find_bot(enterprise_id=None, team_id="T0BBB").bot_token == "xoxb-2"
    assert store.find_bot(enterprise_id=None, team_id="T0CCC") is None
    latest = store.find_installation(enterprise_id=None, team_id="T0AAA")
    assert (latest.user_id, latest.user_token) == ("U0CAI", "xoxp-U0CAI")
    ana = store.find_installation(enterprise_id=None, team_id="T0AAA", user_id="U0ANA")
    # Ana's user token, with the workspace's latest bot token
    assert (ana.user_token, ana.bot_token, ana.bot_scopes) == (
        "xoxp-U0ANA", "xoxb-3", ["commands", "chat:write"])
    assert store.find_installation(enterprise_id=None, team_id="T0AAA", user_id="U0DEV") is None

    store.delete_installation(enterprise_id=None, team_id="T0AAA", user_id="U0ANA")
    assert store.find_installation(enterprise_id=None, team_id="T0AAA", user_id="U0ANA") is None
    assert store.find_installation(enterprise_id=None, team_id="T0AAA").user_id == "U0CAI"
    store.delete_all(enterprise_id=None, team_id="T0AAA")  # app_uninstalled
    assert store.find_bot(enterprise_id=None, team_id="T0AAA") is None
    assert store.find_installation(enterprise_id=None, team_id="T0AAA") is None
    assert store.find_installation(enterprise_id=None, team_id="T0AAA", user_id="U0CAI") is None
    assert store.find_bot(enterprise_id=None, team_id="T0BBB").bot_token == "xoxb-2"


def test_an_org_wide_install_is_found_from_any_team_of_the_org(client: redis.Redis) -> None:
    store = RedisInstallationStore(client)
    store.save(installation("U0ANA", team=None, enterprise="E0ORG", bot_token="xoxb-org"))
    store.save(installation("U0BEN", team="T0AAA", enterprise="E0ORG", bot_token="xoxb-team"))
    found = store.find_bot(enterprise_id="E0ORG", team_id="T0ZZZ", is_enterprise_install=True)
    assert found.bot_token == "xoxb-org" and found.is_enterprise_install
    assert store.find_installation(enterprise_id="E0ORG", team_id="T0ZZZ",
                                   is_enterprise_install=True).user_id == "U0ANA"
    # A team-level install inside the same org stays its own.
    assert store.find_bot(enterprise_id="E0ORG", team_id="T0AAA").bot_token == "xoxb-team"


def test_rotated_tokens_replace_the_old_ones(client: redis.Redis) -> None:
    store = RedisInstallationStore(client)
    expires = int(time.time()) + 43_200
    store.save(installation("U0ANA", bot_token="xoxe.xoxb-1", bot_refresh_token="xoxe-1-r",
                            bot_token_expires_at=expires, user_refresh_token="xoxe-1-u",
                            user_token_expires_at=expires))
    found = store.find_installation(enterprise_id=None, team_id="T0AAA", user_id="U0ANA")
    assert (found.bot_refresh_token, found.bot_token_expires_at,
            found.user_refresh_token, found.user_token_expires_at) == (
        "xoxe-1-r", expires, "xoxe-1-u", expires)
    # Bolt's token rotator saves the refreshed installation through the same store.
    rotated = installation("U0ANA", bot_token="xoxe.xoxb-2", bot_refresh_token="xoxe-2-r",
                           bot_token_expires_at=expires + 43_200)
    store.save(rotated)
    bot = store.find_bot(enterprise_id=None, team_id="T0AAA")
    assert (bot.bot_token, bot.bot_refresh_token, bot.bot_token_expires_at) == (
        "xoxe.xoxb-2", "xoxe-2-r", expires + 43_200)


def test_bolt_authorizes_with_the_stored_bot_token(client: redis.Redis, stub: SlackStub
                                                   ) -> None:
    store = RedisInstallationStore(client)
    bot_only = installation("U0ANA", bot_token="xoxb-test")  # the stub's valid token
    bot_only.user_token = None  # the stub knows no user tokens
    store.save(bot_only)
    authorize = InstallationStoreAuthorize(logger=store.logger, installation_store=store,
                                           client_id="111.222", client_secret="s3cret")
    context = BoltContext()
    context["client"] = WebClient(base_url=stub.url)
    result = authorize(context=context, enterprise_id=None, team_id="T0AAA", user_id="U0ANA")
    assert result is not None and result.bot_token == "xoxb-test"
    assert result.bot_user_id == BOT_USER_ID  # Bolt checked the token with auth.test
    assert authorize(context=context, enterprise_id=None, team_id="T0NOPE",
                     user_id="U0ANA") is None


def test_oauth_state_is_accepted_once_and_not_after_it_expired(client: redis.Redis) -> None:
    states = RedisOAuthStateStore(client, expiration_seconds=1)
    first, second = states.issue(), states.issue()
    assert first != second
    assert states.consume(first) is True
    assert states.consume(first) is False  # single use
    assert states.consume("made-up") is False
    time.sleep(1.1)
    assert states.consume(second) is False  # expired


def test_bolt_oauth_settings_take_both_stores(client: redis.Redis) -> None:
    settings = oauth_settings(client, "111.222", "s3cret", ["commands", "chat:write"],
                              "https://tokenboard.example.com/slack/oauth_redirect")
    assert isinstance(settings.installation_store, RedisInstallationStore)
    assert isinstance(settings.state_store, RedisOAuthStateStore)
    state = settings.state_store.issue()
    assert settings.state_store.consume(state)
