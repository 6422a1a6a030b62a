"""`Deps`: what handlers and jobs need, built once per process by `bot.runtime.app.build_deps`.

A module of its own so that handlers and jobs import it without importing the
composition root (which imports the handlers).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import redis
from redis.cluster import RedisCluster
from slack_sdk import WebClient

from bot.boards.leaderboard import Leaderboards
from bot.core.config import BoardConfig
from bot.core.settings import Settings
from bot.intake.identities import Identities
from bot.slack.directory import Directory
from bot.store.cached import Guard
from bot.store.embedded import EmbeddedRedis
from bot.store.ratelimit import RateLimiter
from bot.store.senders import Sender, Senders, token_workspace
from bot.store.store import Store


def workspace_deps(settings: Settings, redis_client: redis.Redis | RedisCluster,
                   workspace: str, client: WebClient | None,
                   embedded: EmbeddedRedis | None = None) -> Deps:
    """Everything of one workspace: its store (under its own hash tag; on a Redis Cluster
    bound to that slot's primary), Slack client, names, boards, ingest tokens, rate
    limiter and identity map."""
    store = Store(redis_client, workspace=workspace, tz=settings.tz,
                  retention_days=settings.retention_days,
                  wait_replicas=settings.redis_wait_replicas,
                  wait_ms=max(1, settings.redis_timeout_ms // 2))
    # INGEST_TOKENS belong to the environment's own workspace, never to installed ones
    env_tokens = settings.ingest_tokens if workspace == settings.workspace else ()
    directory = Directory(store, client)
    return Deps(settings=settings, store=store, directory=directory,
                leaderboards=Leaderboards(store), client=client,
                senders=store.senders(env_tokens),
                identities=Identities(store, directory), embedded=embedded,
                limiter=store.rate_limiter(settings.ingest_rate_limit))


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
    limiter: RateLimiter | None = None  # requests a minute per sender on the report routes
    # charts this process uploaded for /leaderboard replies: what was drawn → its file
    charts: OrderedDict = field(default_factory=OrderedDict)
    # the same process's Deps for the other workspaces it has served (for_workspace)
    others: dict[str, Deps] = field(default_factory=dict)
    # installed through "Add to Slack": the Deps of an installed workspace, with a client
    # on its own bot token (bot.runtime.workspaces.Workspaces.get); None for a single workspace
    installed: Callable[[str], Deps | None] | None = None

    def for_workspace(self, workspace: str, remember: bool = True) -> Deps:
        """This process's Deps for `workspace`: its own store, caches, senders and rate
        limiter on the same Redis. Tokens from INGEST_TOKENS belong to TOKENBOARD_WORKSPACE
        only, and so does the bot token: another workspace gets no Slack client, so an
        email is never looked up in the wrong Slack (such reports are answered 503, as
        without SLACK_BOT_TOKEN; reports naming Slack user ids are counted)."""
        if workspace == self.store.ws:
            return self
        if self.installed is not None:
            deps = self.installed(workspace)
            if deps is not None:
                return deps
        found = self.others.get(workspace)
        if found is None:
            found = workspace_deps(self.settings, self.store.root, workspace, None)
            if remember:
                found = self.others.setdefault(workspace, found)
        return found

    def for_sender(self, header: str) -> tuple[Deps, Sender | None, Guard | None]:
        """The Deps of the workspace an `Authorization: Bearer` token belongs to, the
        sender (its name, own rate limit and a personal token's owner; None: refused) and
        the guard of the tokens' version it was read at (`Senders.identify_cached`: what
        this process read before; the counting call checks the guard).

        A token made by `tokenboard tokens create --workspace W` names W and is looked up
        only among W's tokens, so its reports can only be counted in W; any other token
        is TOKENBOARD_WORKSPACE's. Redis errors propagate (the caller answers 503).
        """
        workspace = token_workspace(header) or self.store.ws
        deps = self.for_workspace(workspace, remember=False)
        sender, guard = deps.senders.identify_cached(header)
        if sender is not None and deps is not self:  # kept only once a token proved it
            deps = self.others.setdefault(workspace, deps)
        return deps, sender, guard

    def forget_cached(self) -> None:
        """Drop what this workspace's report intake keeps between requests (tokens,
        configuration, identity links: `bot.store.cached`)."""
        self.senders.cache.forget()
        self.store.configs.forget()
        self.store.identity_map.cache.forget()

    def is_admin(self, user_id: str, fresh: bool = False,
                 config: BoardConfig | None = None,
                 profiles: Mapping[str, Mapping[str, str]] | None = None) -> bool:
        """ADMIN_USER_IDS, the configured admins list, or a Slack workspace admin/owner.

        `fresh` asks Slack for the role instead of trusting the day-long profile cache:
        used when opening and saving the configuration, so a demoted admin loses access
        at once. `profiles`: what `Directory.profiles` already gave for the ids of a
        request (the user among them), so the cache is not read again.
        """
        if user_id in self.settings.admin_user_ids:
            return True
        if self.admin_by_setting(user_id, config or self.store.configs.load()):
            return True
        if profiles is None or fresh:
            profiles = self.directory.profiles([user_id], fresh=fresh)
        profile = profiles.get(user_id, {})
        return profile.get("is_admin") == "1" or profile.get("is_owner") == "1"

    def admin_by_setting(self, user_id: str, config: BoardConfig) -> bool:
        """An admin without asking Slack: ADMIN_USER_IDS or the configured admins."""
        return user_id in self.settings.admin_user_ids or user_id in config.admins

    def sees_flags(self, viewer: str, config: BoardConfig | None = None,
                   profiles: Mapping[str, Mapping[str, str]] | None = None) -> bool:
        """Whether `viewer` is shown the "high usage, no outcomes" flags on the boards:
        everyone, admins only (the default) or nobody, as configured. `profiles`: as for
        `is_admin`."""
        config = config or self.store.configs.load()
        if config.display == "teams":  # teams only: flags go to admins only
            return config.flags != "off" and self.is_admin(viewer, config=config)
        return config.flags == "everyone" or (
            config.flags == "admins" and self.is_admin(viewer, config=config,
                                                       profiles=profiles))

    def close(self) -> None:
        if self.embedded:
            self.embedded.stop()
