"""The worker's user-group sync: teams named in `team_usergroups` follow Slack
(bot/slack/usergroups.py), once per SYNC_EVERY across every process running jobs."""

from __future__ import annotations

import logging

from bot.runtime.deps import Deps
from bot.slack.usergroups import SyncResult, sync_usergroups
from bot.store.teams import TeamStore

log = logging.getLogger(__name__)
SYNC_EVERY = 15 * 60


def sync_teams(deps: Deps, force: bool = False) -> SyncResult | None:
    """Sync the user-group teams if any are configured and no process did lately;
    None when there was nothing to do."""
    config = deps.store.load_config()
    teams = TeamStore(deps.store)
    if deps.client is None or not config.team_usergroups:
        return None
    if not force and not teams.claim("usergroups", SYNC_EVERY - 30):
        return None
    result = sync_usergroups(deps.client, teams, config)
    for line in result.problems:
        log.warning("team sync: %s", line)
    if result.changed:
        log.info("team sync: %s", " ".join(result.lines()[:1]))
    return result
