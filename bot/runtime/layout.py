"""Start-up of `serve` and `worker`: every workspace they serve must be on the current
storage layout before anything is counted or rescored.

A fresh install gets the layout version written. Data of an older layout is migrated
first (MIGRATE_ON_START=on, the default): one process takes the migration lock and logs
its progress, others wait for it (a migration stopped half-way is finished by the next
process to start). With MIGRATE_ON_START=off the process refuses to start and says to run
`tokenboard migrate`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

import redis
from redis.cluster import RedisCluster

from bot.core.settings import Settings, SettingsError
from bot.store.installations import RedisInstallationStore
from bot.store.layout import LayoutBusy
from bot.store.store import Store

log = logging.getLogger(__name__)
WAIT_POLL = 2.0  # seconds between looks while another process migrates
LOG_EVERY = 5.0  # seconds between progress lines


def served_stores(settings: Settings, deps_store: Store) -> list[Store]:
    """TOKENBOARD_WORKSPACE's store and, installed through "Add to Slack", every
    installed workspace's."""
    stores = [deps_store]
    if settings.oauth:
        stores += [workspace_store(settings, deps_store.root, name)
                   for name in installed_workspaces(settings, deps_store.root)
                   if name != deps_store.ws]
    return stores


def installed_workspaces(settings: Settings, root: redis.Redis | RedisCluster) -> list[str]:
    teams = RedisInstallationStore(root, settings.slack_client_id).installed()
    return sorted({t.get("team_id") or t.get("enterprise_id") for t in teams} - {None, ""})


def workspace_store(settings: Settings, root: redis.Redis | RedisCluster,
                    workspace: str) -> Store:
    return Store(root, workspace=workspace, tz=settings.tz,
                 retention_days=settings.retention_days)


def prepare_layouts(settings: Settings, stores: Iterable[Store],
                    sleep: Callable[[float], None] = time.sleep) -> None:
    """Make each store's layout current (see the module's docstring); raises
    SettingsError when one holds an older layout and MIGRATE_ON_START is off."""
    for store in stores:
        prepare_layout(store, settings.migrate_on_start == "on", sleep)


def prepare_layout(store: Store, migrate: bool,
                   sleep: Callable[[float], None] = time.sleep) -> None:
    waiting_since = None
    while True:
        state = store.layout.settle()
        if state != "older":
            if state == "fresh":
                log.info("workspace %s: storage layout version written (a new install)",
                         store.ws)
            return
        if not migrate:
            raise SettingsError(
                f"workspace {store.ws} holds data of an older storage layout, which this "
                "version does not count on; run `tokenboard migrate` first (or start with "
                "MIGRATE_ON_START=on)")
        holder = store.layout.migrating()
        if holder is None:
            try:
                _migrate(store)
                continue
            except LayoutBusy as exc:
                holder = str(exc)
        if waiting_since is None:
            waiting_since = time.monotonic()
            log.info("workspace %s: waiting for the storage migration (%s)", store.ws, holder)
        sleep(WAIT_POLL)


def _migrate(store: Store) -> None:
    total = store.layout.count().units
    log.info("workspace %s: moving %s keys of an older storage layout into the current "
             "one (MIGRATE_ON_START=on; nothing is served until it is done)",
             store.ws, f"{total:,}")
    last = [time.monotonic()]

    def progress(phase: str, done: int, of: int) -> None:
        if time.monotonic() - last[0] >= LOG_EVERY:
            last[0] = time.monotonic()
            log.info("workspace %s: migrating %s: %s/%s keys", store.ws,
                     "event ids" if phase == "ids" else "days", f"{done:,}", f"{of:,}")

    result = store.layout.migrate(progress, total=total)
    log.info("workspace %s: storage migrated in %.1f s: %s person-days, %s event ids "
             "(%s sender-days, %s single ids)", store.ws, result.seconds,
             f"{result.person_days:,}", f"{result.ids:,}", f"{result.sender_days:,}",
             f"{result.id_keys:,}")
