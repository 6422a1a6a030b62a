"""The worker's user-group sync: teams named in `team_usergroups` follow Slack
(bot/slack/usergroups.py), once per SYNC_EVERY across every process running jobs."""

from __future__ import annotations

import logging
from datetime import date

from bot.core.config import BoardConfig
from bot.core.periods import day_bucket
from bot.runtime.deps import Deps
from bot.slack.usergroups import SyncResult, sync_usergroups
from bot.store.teams import TeamStore

log = logging.getLogger(__name__)
SYNC_EVERY = 15 * 60


def sync_teams(deps: Deps, force: bool = False) -> SyncResult | None:
    """Sync the user-group teams if any are configured and no process did lately;
    None when there was nothing to do."""
    config = deps.store.configs.load()
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


def digest_with_teams(deps: Deps, day: date, config: BoardConfig, blocks: list[dict],
                      text: str) -> tuple[list[dict], str]:
    """The digest's blocks with its teams section (the day's team board) added; with
    display "teams" (teams only), the teams section is the whole digest: nobody named."""
    from bot.boards.teams import TeamBoards
    from bot.render.team_blocks import digest_teams_blocks

    boards = TeamBoards(deps.store, now=deps.leaderboards.now)
    has_teams = bool(boards.teams.teams())
    section = []
    if has_teams:
        tb = boards.bucket_board(day_bucket(day), config, "day", title=f"{day:%a %d %b %Y}",
                                 label=f"on {day:%a %d %b}")
        section = digest_teams_blocks(tb)
    if config.display != "teams":
        return blocks + section, text
    title = f"Team leaderboard · {day:%a %d %b %Y}"
    head = [{"type": "header", "text": {"type": "plain_text", "text": title}}]
    if not section:
        section = [{"type": "section", "text": {
            "type": "mrkdwn", "verbatim": True,
            "text": f"No team was active on {day:%a %d %b}." if has_teams else
                    "No teams are set up yet, and individuals are not ranked here."}}]
    return head + section, title
