"""Which workspace a request, a report or a job belongs to, and its `Deps`.

With one bot token (SLACK_BOT_TOKEN) there is one workspace, named by
TOKENBOARD_WORKSPACE ("default"), whatever team a request comes from. Installed through
"Add to Slack" (SLACK_CLIENT_ID + SLACK_CLIENT_SECRET), every installed team is a
workspace of its own, named by its team id (inside an Enterprise Grid org, each team;
an org-wide install's requests carry the team they come from): its own boards,
configuration, admins, digest, identity links and ingest tokens, under its own Redis hash
tag, with a Web API client on that installation's bot token.

After an uninstall (`app_uninstalled`, `tokens_revoked`) the installation is deleted at
once and the workspace's data UNINSTALL_GRACE_DAYS later (`forget_due`), unless it is
installed again or an admin keeps it (`keep`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator

import redis
from redis.cluster import RedisCluster
from slack_bolt import BoltContext
from slack_sdk import WebClient
from slack_sdk.oauth.installation_store import Installation
from slack_sdk.oauth.token_rotation import TokenRotator

from bot.core.settings import Settings
from bot.runtime.deps import Deps
from bot.store.departures import Departures
from bot.store.embedded import EmbeddedRedis
from bot.store.installations import RedisInstallationStore

log = logging.getLogger(__name__)
RECHECK_INSTALLED = 60  # seconds a workspace's installation is trusted by get()
ROTATE_BEFORE = 120  # minutes: a rotating bot token is refreshed this long before it expires


class Workspaces:
    def __init__(self, settings: Settings, redis_client: redis.Redis | RedisCluster,
                 build: Callable[[str, WebClient | None], Deps],
                 single: Deps | None = None) -> None:
        self.settings = settings
        self.r = redis_client
        self._build = build
        self.single = single
        self.embedded: EmbeddedRedis | None = single.embedded if single else None
        self.installations = (None if single is not None else RedisInstallationStore(
            redis_client, settings.slack_client_id, on_install=self._installed))
        self.departures = Departures(redis_client, settings.slack_client_id)
        self._deps: dict[str, Deps] = {}
        self._seen: dict[str, tuple[float, Deps]] = {}  # get(): when, what
        self._lock = threading.Lock()

    @classmethod
    def of(cls, deps: Deps) -> Workspaces:
        """One workspace: `deps` answers every team."""
        return cls(deps.settings, deps.store.root, lambda _ws, _client: deps, single=deps)

    @property
    def multi(self) -> bool:
        return self.single is None

    # -- lookups --------------------------------------------------------------------------
    def for_context(self, context: BoltContext) -> Deps:
        """The workspace of a Slack request (Bolt's context: team, enterprise, and the
        client Bolt authorized with the installation's bot token)."""
        if self.single is not None:
            return self.single
        workspace = context.team_id or context.enterprise_id
        if not workspace:
            raise LookupError("a Slack request without a team or enterprise id")
        return self._deps_for(workspace, context.client)

    def get(self, workspace: str) -> Deps | None:
        """The workspace named `workspace` (a team id), if installed (or the only one).
        An answer is reused for RECHECK_INSTALLED seconds: reports for a workspace do not
        read the installations on every request."""
        if self.single is not None:
            return self.single if workspace in ("", self.single.store.ws) else None
        with self._lock:
            seen = self._seen.get(workspace)
        if seen is not None and time.monotonic() - seen[0] < RECHECK_INSTALLED:
            return seen[1]
        found = None
        for team in self.installations.installed():  # type: ignore[union-attr]
            if workspace in (team.get("team_id"), team.get("enterprise_id")):
                found = self._deps_for(workspace, self._client(team))
                break
        if found is not None:  # one not installed (yet) is asked about again next time
            with self._lock:
                self._seen[workspace] = (time.monotonic(), found)
        return found

    def all(self) -> Iterator[Deps]:
        """Every installed workspace (the worker runs each one's digest and refreshes)."""
        if self.single is not None:
            yield self.single
            return
        for team in self.installations.installed():  # type: ignore[union-attr]
            name = team.get("team_id") or team.get("enterprise_id")
            if name:
                yield self._deps_for(name, self._client(team))

    def _client(self, team: dict) -> WebClient | None:
        """A client on the team's bot token, refreshed first when token rotation is on
        and it expires within ROTATE_BEFORE minutes (Bolt does the same per request)."""
        store = self.installations
        assert store is not None
        bot = store.find_bot(enterprise_id=team.get("enterprise_id"),
                             team_id=team.get("team_id"),
                             is_enterprise_install=team.get("is_enterprise_install"))
        if bot is None:
            return None
        if bot.bot_refresh_token:
            rotator = TokenRotator(client_id=self.settings.slack_client_id,
                                   client_secret=self.settings.slack_client_secret,
                                   client=WebClient(base_url=self.settings.slack_api_url))
            fresh = rotator.perform_bot_token_rotation(bot=bot,
                                                       minutes_before_expiration=ROTATE_BEFORE)
            if fresh is not None:
                store.save_bot(fresh)
                bot = fresh
        return WebClient(token=bot.bot_token, base_url=self.settings.slack_api_url)

    def _deps_for(self, workspace: str, client: WebClient | None) -> Deps:
        token = client.token if client is not None else None
        with self._lock:
            deps = self._deps.get(workspace)
            if deps is not None and (token is None or deps.client is not None
                                     and deps.client.token == token):
                return deps
            deps = self._build(workspace, client)  # new, or the bot token was rotated
            self._deps[workspace] = deps
            return deps

    def _installed(self, installation: Installation) -> None:
        workspace = installation.team_id or installation.enterprise_id
        if workspace and self.keep(workspace):
            log.info("workspace %s installed again: its data is kept", workspace)

    # -- uninstall: delete the data after a grace period ----------------------------------
    def leaving(self, workspace: str, now: float | None = None) -> float:
        """Mark `workspace` uninstalled: its data is deleted after the grace period.
        Returns when (epoch s)."""
        due = (now or time.time()) + self.settings.uninstall_grace_days * 86400
        self.departures.schedule(workspace, due)
        with self._lock:
            self._deps.pop(workspace, None)
            self._seen.pop(workspace, None)
        log.info("workspace %s uninstalled: its data is deleted after %s", workspace,
                 time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(due)))
        return due

    def keep(self, workspace: str) -> bool:
        """Cancel a pending deletion (reinstalled, or an admin's `workspaces keep`)."""
        return self.departures.cancel(workspace)

    def pending_deletions(self) -> dict[str, float]:
        return self.departures.pending()

    def forget_due(self, now: float | None = None) -> list[str]:
        """Delete the data of every workspace whose grace period is over."""
        now = now or time.time()
        done = []
        for workspace, due in self.pending_deletions().items():
            if due > now:
                continue
            removed = self.departures.delete(workspace)
            log.info("deleted the data of uninstalled workspace %s (%d keys)", workspace,
                     removed)
            done.append(workspace)
        return done

