"""`Deps`: what handlers and jobs need, built once per process by `bot.app.build_deps`.

A module of its own so that handlers and jobs import it without importing the
composition root (which imports the handlers).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from slack_sdk import WebClient

from bot.config import BoardConfig
from bot.directory import Directory
from bot.identities import Identities
from bot.leaderboard import Leaderboards
from bot.redis_server import EmbeddedRedis
from bot.senders import Senders
from bot.settings import Settings
from bot.store import Store


@dataclass
class Deps:
    """What handlers and jobs need, built once per process."""

    settings: Settings
    store: Store
    directory: Directory
    leaderboards: Leaderboards
    client: WebClient | None
    senders: Senders
    identities: Identities
    embedded: EmbeddedRedis | None = None
    # charts this process uploaded for /leaderboard replies: what was drawn → its file
    charts: OrderedDict = field(default_factory=OrderedDict)

    def is_admin(self, user_id: str, fresh: bool = False,
                 config: BoardConfig | None = None) -> bool:
        """ADMIN_USER_IDS, the configured admins list, or a Slack workspace admin/owner.

        `fresh` asks Slack for the role instead of trusting the day-long profile cache:
        used when opening and saving the configuration, so a demoted admin loses access
        at once.
        """
        if user_id in self.settings.admin_user_ids:
            return True
        if user_id in (config or self.store.load_config()).admins:
            return True
        profile = self.directory.profiles([user_id], fresh=fresh).get(user_id, {})
        return profile.get("is_admin") == "1" or profile.get("is_owner") == "1"

    def sees_flags(self, viewer: str, config: BoardConfig | None = None) -> bool:
        """Whether `viewer` is shown the "high usage, no outcomes" flags on the boards:
        everyone, admins only (the default) or nobody, as configured."""
        config = config or self.store.load_config()
        return config.flags == "everyone" or (
            config.flags == "admins" and self.is_admin(viewer, config=config))

    def close(self) -> None:
        if self.embedded:
            self.embedded.stop()
