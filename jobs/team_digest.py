"""A team's own daily digest: for each team given a channel (`team_digest_channels`), the
two boards inside the team for the day, posted with the main digest.

Exactly once per (team, channel, day) however many processes run, with the main digest's
bookkeeping (bot.store.digest_ledger: claim, attempt marker, posted ts), keyed by the team
as well as the channel, so a team's digest in the main digest's channel is a post of its
own. A team digest that fails is shown to admins on App Home and never holds back another.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from slack_sdk.errors import SlackApiError

from bot.boards.teams import TeamBoards
from bot.core.config import BoardConfig
from bot.core.periods import day_bucket
from bot.core.teams import TeamBoard, find_team, rank_teams
from bot.render.blocks import escape
from bot.render.team_blocks import inside_team_blocks
from bot.runtime.deps import Deps
from bot.store.teams import TeamInfo

log = logging.getLogger(__name__)
TEAM_METADATA_TYPE = "tokenboard_team_digest"


@dataclass(frozen=True)
class TeamDigestResult:
    team: str
    channel: str
    status: str  # posted | already_posted | claimed_elsewhere | failed | unknown_team
    ts: str | None = None
    error: str | None = None

    def line(self, day: date) -> str:
        """One sentence for the CLI and the log."""
        where = f"Team {self.team}'s digest for {day} "
        return {
            "posted": f"{where}posted to {self.channel} (ts {self.ts}).",
            "already_posted": f"{where}was already posted to {self.channel} (ts {self.ts}).",
            "claimed_elsewhere": f"{where}is being posted by another process.",
            "unknown_team": f"No team {self.team!r} (team_digest_channels); its digest "
                            "was not posted.",
        }.get(self.status, f"{where}not posted: {self.error}")


def _where(team: str, channel: str) -> str:
    """The ledger's name for a team's digest in `channel` (never a bare channel id)."""
    return f"team:{team}:{channel}"


@dataclass(frozen=True)
class DayOfTeams:
    """What every team's digest of one day shares, read once per run: the day's team
    board and who opted out (never in a channel post)."""

    boards: TeamBoards
    team_board: TeamBoard
    hidden: frozenset[str]


def day_of_teams(deps: Deps, boards: TeamBoards, day: date, config: BoardConfig
                 ) -> DayOfTeams:
    return DayOfTeams(boards, rank_teams(boards.teams.period_totals(day_bucket(day),
                                                                    config.raw_metric)),
                      deps.leaderboards.hidden_from(None))


def team_digest(deps: Deps, day: date, config: BoardConfig, info: TeamInfo,
                shared: DayOfTeams) -> tuple[list[dict], str]:
    """The blocks and text of team `info`'s digest for `day` (no Slack call)."""
    team, hidden, team_board = info.name, shared.hidden, shared.team_board
    inside = shared.boards.inside_bucket(
        info, day_bucket(day), config, "day", title=f"{day:%a %d %b %Y}",
        label=f"on {day:%a %d %b}", hidden=hidden, team_board=team_board)
    teams_only = config.display == "teams"
    board = inside.pb.board
    people = [] if teams_only else [r.user for r in [*board.raw, *board.outcome]]
    names = deps.directory.names(people) if people else {}
    blocks = inside_team_blocks(inside, "", names, teams_only)
    return blocks, f"Team {team} · {day:%a %d %b %Y}"


def run_team_digests(deps: Deps, day: date, config: BoardConfig, owner: str,
                     claim_ttl: int, force: bool = False) -> list[TeamDigestResult]:
    """Post each configured team's digest for `day` that is not out yet. Never raises
    for one team: each result says what happened."""
    channels = config.team_digest_channels
    if not channels or deps.client is None:
        return []
    boards = TeamBoards(deps.store, now=deps.leaderboards.now)
    known = boards.teams.teams()
    shared: list[DayOfTeams] = []  # read once, by the first digest that is posted

    def content(name: str) -> tuple[list[dict], str]:
        if not shared:
            shared.append(day_of_teams(deps, boards, day, config))
        return team_digest(deps, day, config, known[name], shared[0])

    results = []
    for team, channel in sorted(channels.items()):
        name = find_team(team, known)
        if name is None:
            log.warning("team digest %s: no team %r; not posted", day, team)
            results.append(TeamDigestResult(team, channel, "unknown_team"))
            continue
        try:
            results.append(_post_once(deps, day, name, channel, owner, claim_ttl, force,
                                      content))
        except Exception as exc:  # one team's failure never stops the others
            log.exception("team digest %s for %s failed", day, name)
            results.append(TeamDigestResult(name, channel, "failed", error=str(exc)))
    return results


def _post_once(deps: Deps, day: date, team: str, channel: str, owner: str, claim_ttl: int,
               force: bool, content: Callable[[str], tuple[list[dict], str]]
               ) -> TeamDigestResult:
    ledger = deps.store.digests
    where = _where(team, channel)
    posted = ledger.posted(where, day)
    if posted and not force:
        return TeamDigestResult(team, channel, "already_posted", ts=posted)
    if not ledger.claim(where, day, owner, claim_ttl):
        return TeamDigestResult(team, channel, "claimed_elsewhere")
    try:
        if ledger.mark_attempt(where, day) and not force:
            found = _find_posted(deps, channel, day, team)
            if found:
                ledger.mark_posted(where, day, found, last=False)
                return TeamDigestResult(team, channel, "already_posted", ts=found)
        blocks, text = content(team)
        assert deps.client is not None
        answer = deps.client.chat_postMessage(
            channel=channel, text=text, blocks=blocks, unfurl_links=False,
            metadata={"event_type": TEAM_METADATA_TYPE,
                      "event_payload": {"date": day.isoformat(), "team": team,
                                        "workspace": deps.settings.workspace}})
    except SlackApiError as exc:
        ledger.release(where, day, owner)
        error = exc.response.get("error", "unknown_error")
        ledger.set_error(f"Team {escape(team)}'s digest for {day} to <#{channel}> failed: "
                         f"{error}.")
        log.error("team digest %s for %s to %s failed: %s", day, team, channel, error)
        return TeamDigestResult(team, channel, "failed", error=error)
    except BaseException:
        ledger.release(where, day, owner)
        raise
    ts = answer["ts"]
    ledger.mark_posted(where, day, ts, last=False)
    log.info("team digest %s for %s posted to %s (ts %s)", day, team, channel, ts)
    return TeamDigestResult(team, channel, "posted", ts=ts)


def _find_posted(deps: Deps, channel: str, day: date, team: str) -> str | None:
    """The ts of this team's digest for `day` in the channel's recent history, if any."""
    assert deps.client is not None
    try:
        history = deps.client.conversations_history(channel=channel, limit=200,
                                                    include_all_metadata=True)
    except SlackApiError:
        return None
    for message in history.get("messages", []):
        meta = message.get("metadata") or {}
        payload = meta.get("event_payload") or {}
        if (meta.get("event_type") == TEAM_METADATA_TYPE
                and payload.get("date") == day.isoformat() and payload.get("team") == team):
            return message["ts"]
    return None
