"""Slack app installations and OAuth state in Redis, for Bolt's "Add to Slack" flow.

slack_sdk ships file, SQL and S3 stores but none for Redis; these implement its
`InstallationStore` and `OAuthStateStore` interfaces so Bolt's `OAuthSettings` can use
them (see `oauth_settings`).

- One installation target is a workspace (`team_id`), or a whole Enterprise Grid org for
  an org-wide install (`enterprise_id`, no team). Its keys share one hash tag
  (`bot.keys.install_key`), so a save is one MULTI, also on a Redis Cluster. Kept per
  target: the latest bot (token, scopes, refresh token and expiry when token rotation is
  on), the latest installation, and each installing user's latest installation (their
  user token). Older versions are not kept: a re-install or a rotated token replaces them.
- OAuth state: a random value kept with an expiry (`SET NX EX`) and taken with `GETDEL`,
  so a state is accepted once and never after it expired.
"""

from __future__ import annotations

import json
import logging
import secrets
from logging import Logger

import redis
from redis.cluster import RedisCluster
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk.oauth.installation_store import Bot, Installation, InstallationStore
from slack_sdk.oauth.state_store import OAuthStateStore

from bot.keys import install_key, oauth_state_key
from bot.redis_cluster import workspace_client

log = logging.getLogger(__name__)
STATE_TTL = 600  # seconds an "Add to Slack" click may take to come back


def _target(enterprise_id: str | None, team_id: str | None,
            is_enterprise_install: bool | None) -> tuple[str | None, str | None]:
    """An org-wide install is found by its enterprise alone, from any team of the org."""
    return enterprise_id, None if is_enterprise_install else team_id


class RedisInstallationStore(InstallationStore):
    """Installations (bot and user tokens) kept in Redis."""

    def __init__(self, client: redis.Redis | RedisCluster, logger: Logger = log) -> None:
        self.root = client
        self._logger = logger

    @property
    def logger(self) -> Logger:
        return self._logger

    def _client(self, enterprise_id: str | None, team_id: str | None) -> redis.Redis:
        return workspace_client(self.root, install_key(enterprise_id, team_id))

    def save(self, installation: Installation) -> None:
        e_id, t_id = _target(installation.enterprise_id, installation.team_id,
                             installation.is_enterprise_install)
        entity = json.dumps(installation.__dict__)
        pipe = self._client(e_id, t_id).pipeline(transaction=True)
        bot = installation.to_bot()
        if bot.bot_token is not None:
            pipe.set(install_key(e_id, t_id, "bot"), json.dumps(bot.__dict__))
        pipe.set(install_key(e_id, t_id, "installer"), entity)
        if installation.user_id:
            pipe.set(install_key(e_id, t_id, "installer", installation.user_id), entity)
            pipe.sadd(install_key(e_id, t_id, "users"), installation.user_id)
        pipe.execute()

    def save_bot(self, bot: Bot) -> None:
        if bot.bot_token is None:
            return
        e_id, t_id = _target(bot.enterprise_id, bot.team_id, bot.is_enterprise_install)
        self._client(e_id, t_id).set(install_key(e_id, t_id, "bot"), json.dumps(bot.__dict__))

    def find_bot(self, *, enterprise_id: str | None, team_id: str | None,
                 is_enterprise_install: bool | None = False) -> Bot | None:
        e_id, t_id = _target(enterprise_id, team_id, is_enterprise_install)
        raw = self._client(e_id, t_id).get(install_key(e_id, t_id, "bot"))
        return Bot(**json.loads(raw)) if raw else None

    def find_installation(self, *, enterprise_id: str | None, team_id: str | None,
                          user_id: str | None = None,
                          is_enterprise_install: bool | None = False) -> Installation | None:
        """The installation by `user_id` (their user token), or the latest one; with the
        latest bot token, which a rotation or a later install may have replaced."""
        e_id, t_id = _target(enterprise_id, team_id, is_enterprise_install)
        parts = ("installer", user_id) if user_id else ("installer",)
        client = self._client(e_id, t_id)
        raw, raw_bot = client.mget(install_key(e_id, t_id, *parts), install_key(e_id, t_id, "bot"))
        if not raw:
            return None
        installation = Installation(**json.loads(raw))
        if raw_bot:
            bot = Bot(**json.loads(raw_bot))
            installation.bot_id, installation.bot_user_id = bot.bot_id, bot.bot_user_id
            installation.bot_token, installation.bot_scopes = bot.bot_token, bot.bot_scopes
            installation.bot_refresh_token = bot.bot_refresh_token
            installation.bot_token_expires_at = bot.bot_token_expires_at
        return installation

    def delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        self._client(enterprise_id, team_id).delete(install_key(enterprise_id, team_id, "bot"))

    def delete_installation(self, *, enterprise_id: str | None, team_id: str | None,
                            user_id: str | None = None) -> None:
        """One user's installation, or (no `user_id`) every installation of the target."""
        client = self._client(enterprise_id, team_id)
        users_key = install_key(enterprise_id, team_id, "users")
        if user_id:
            users = [user_id]
        else:
            users = [u.decode() for u in client.smembers(users_key)]
        pipe = client.pipeline(transaction=True)
        if not user_id:
            pipe.delete(install_key(enterprise_id, team_id, "installer"), users_key)
        else:
            pipe.srem(users_key, user_id)
        for user in users:
            pipe.delete(install_key(enterprise_id, team_id, "installer", user))
        pipe.execute()


class RedisOAuthStateStore(OAuthStateStore):
    """OAuth `state` values: each accepted once, within `expiration_seconds`."""

    def __init__(self, client: redis.Redis | RedisCluster,
                 expiration_seconds: int = STATE_TTL, logger: Logger = log) -> None:
        self.r = client
        self.expiration_seconds = expiration_seconds
        self._logger = logger

    @property
    def logger(self) -> Logger:
        return self._logger

    def issue(self, *args: object, **kwargs: object) -> str:
        state = secrets.token_urlsafe(24)
        self.r.set(oauth_state_key(state), "1", nx=True, ex=self.expiration_seconds)
        return state

    def consume(self, state: str) -> bool:
        """True once for a state issued less than `expiration_seconds` ago."""
        if not state:
            return False
        return self.r.getdel(oauth_state_key(state)) is not None


def oauth_settings(client: redis.Redis | RedisCluster, client_id: str, client_secret: str,
                   scopes: list[str], redirect_uri: str | None = None) -> OAuthSettings:
    """Bolt's OAuth settings with installations and state in Redis. Token rotation, if
    turned on for the app, is handled by Bolt, which saves refreshed tokens through the
    installation store."""
    return OAuthSettings(client_id=client_id, client_secret=client_secret, scopes=scopes,
                         redirect_uri=redirect_uri,
                         installation_store=RedisInstallationStore(client),
                         state_store=RedisOAuthStateStore(client))
