"""Slack installations and OAuth state in Redis, for the "Add to Slack" flow.

slack_sdk ships no Redis `InstallationStore` or `OAuthStateStore`; these implement its
interfaces so Bolt's OAuth flow (`OAuthSettings`) installs, authorizes every request and
rotates tokens with them. Installations are kept per (enterprise, team): the latest bot,
the latest installation, and the latest installation per installing user (user tokens).
An org-wide Enterprise Grid install is kept under the enterprise with no team. Token
rotation fields (`bot_refresh_token`, `bot_token_expires_at`, ...) are stored like every
other field, so Bolt's token rotator can refresh them.

OAuth state values are single-use: `consume` deletes atomically (`GETDEL`) and answers
True only for a state issued within its expiry.

Key names are in bot.store.keys (`tb:{install}:…`, one hash tag: installations are few).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

import redis
from slack_sdk.oauth.installation_store import Bot, Installation, InstallationStore
from slack_sdk.oauth.state_store import OAuthStateStore

from bot.store.keys import InstallKeys

log = logging.getLogger(__name__)
# The bot scopes an install asks for: manifest.yml's (a test keeps them the same).
BOT_SCOPES = ("commands", "chat:write", "chat:write.public", "users:read", "users:read.email",
              "files:write", "channels:read", "channels:history", "groups:read",
              "groups:history", "metadata.message:read", "usergroups:read")


def _team_of(enterprise_id: str | None, team_id: str | None,
             is_enterprise_install: bool | None) -> tuple[str, str]:
    return enterprise_id or "none", "none" if is_enterprise_install else (team_id or "none")


class RedisInstallationStore(InstallationStore):
    def __init__(self, client: redis.Redis, client_id: str = "",
                 on_install: Callable[[Installation], None] | None = None) -> None:
        self.r = client
        self.keys = InstallKeys(client_id)
        self.on_install = on_install

    @property
    def logger(self) -> logging.Logger:
        return log

    # -- writes ---------------------------------------------------------------------------
    def save(self, installation: Installation) -> None:
        e, t = _team_of(installation.enterprise_id, installation.team_id,
                        installation.is_enterprise_install)
        entity = json.dumps(installation.__dict__)
        pipe = self.r.pipeline(transaction=False)
        pipe.set(self.keys.installation(e, t), entity)
        pipe.set(self.keys.installation(e, t, installation.user_id or "none"), entity)
        pipe.execute()
        self.save_bot(installation.to_bot())
        if self.on_install is not None:
            self.on_install(installation)

    def save_bot(self, bot: Bot) -> None:
        if bot.bot_token is None:
            return
        e, t = _team_of(bot.enterprise_id, bot.team_id, bot.is_enterprise_install)
        pipe = self.r.pipeline(transaction=False)
        pipe.set(self.keys.bot(e, t), json.dumps(bot.__dict__))
        pipe.hset(self.keys.installed(), f"{e}:{t}", json.dumps(
            {"enterprise_id": bot.enterprise_id, "team_id": bot.team_id,
             "is_enterprise_install": bool(bot.is_enterprise_install),
             "installed_at": bot.installed_at}))
        pipe.execute()

    # -- reads ----------------------------------------------------------------------------
    def find_bot(self, *, enterprise_id: str | None, team_id: str | None,
                 is_enterprise_install: bool | None = False) -> Bot | None:
        e, t = _team_of(enterprise_id, team_id, is_enterprise_install)
        raw = self.r.get(self.keys.bot(e, t))
        return Bot(**json.loads(raw)) if raw else None

    def find_installation(self, *, enterprise_id: str | None, team_id: str | None,
                          user_id: str | None = None,
                          is_enterprise_install: bool | None = False) -> Installation | None:
        e, t = _team_of(enterprise_id, team_id, is_enterprise_install)
        raw = self.r.get(self.keys.installation(e, t, user_id) if user_id
                         else self.keys.installation(e, t))
        if not raw:
            return None
        installation = Installation(**json.loads(raw))
        if user_id is not None or installation.bot_token is None:
            # the bot token may have been rotated or re-installed by someone else since
            bot = self.find_bot(enterprise_id=enterprise_id, team_id=team_id,
                                is_enterprise_install=is_enterprise_install)
            if bot is not None and bot.bot_token != installation.bot_token:
                installation.bot_id = bot.bot_id
                installation.bot_user_id = bot.bot_user_id
                installation.bot_token = bot.bot_token
                installation.bot_scopes = bot.bot_scopes
                installation.bot_refresh_token = bot.bot_refresh_token
                installation.bot_token_expires_at = bot.bot_token_expires_at
        return installation

    def installed(self) -> list[dict[str, Any]]:
        """Every workspace (or org) with a bot installed: enterprise_id, team_id,
        is_enterprise_install, installed_at."""
        return [json.loads(v) for v in self.r.hgetall(self.keys.installed()).values()]

    # -- deletes (uninstall, tokens revoked) ------------------------------------------------
    def delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        e, t = enterprise_id or "none", team_id or "none"
        pipe = self.r.pipeline(transaction=False)
        pipe.delete(self.keys.bot(e, t))
        pipe.hdel(self.keys.installed(), f"{e}:{t}")
        pipe.execute()

    def delete_installation(self, *, enterprise_id: str | None, team_id: str | None,
                            user_id: str | None = None) -> None:
        e, t = enterprise_id or "none", team_id or "none"
        if user_id is not None:
            self.r.delete(self.keys.installation(e, t, user_id))
            return
        doomed = [self.keys.installation(e, t)]
        doomed += list(self.r.scan_iter(match=self.keys.installation(e, t, "*"), count=500))
        self.r.delete(*doomed)

    def delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        self.delete_bot(enterprise_id=enterprise_id, team_id=team_id)
        self.delete_installation(enterprise_id=enterprise_id, team_id=team_id)


class RedisOAuthStateStore(OAuthStateStore):
    """OAuth `state` values, each usable once within `expiration_seconds`."""

    def __init__(self, client: redis.Redis, expiration_seconds: int = 600,
                 client_id: str = "") -> None:
        self.r = client
        self.expiration_seconds = expiration_seconds
        self.keys = InstallKeys(client_id)

    @property
    def logger(self) -> logging.Logger:
        return log

    def issue(self, *args: Any, **kwargs: Any) -> str:
        state = uuid.uuid4().hex
        self.r.set(self.keys.oauth_state(state), str(time.time()),
                   ex=self.expiration_seconds)
        return state

    def consume(self, state: str) -> bool:
        if not state or len(state) > 200:
            return False
        return self.r.getdel(self.keys.oauth_state(state)) is not None
