"""Read side of teams: the team board of a period, the board inside one team, and a
person's places through their teams.

The team board reads only the team sets (bot.store.teams: O(teams) Redis work); inside
a team reads its members' scores (O(members · log n)). Neither reads the whole org.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.boards.leaderboard import PeriodBoard
from bot.core.config import BoardConfig
from bot.core.periods import Bucket, bucket_for_period, period_label, period_name, period_title
from bot.core.ranking import PersonTotals, rank_board
from bot.core.teams import (
    TeamAgreement,
    TeamBoard,
    TeamRow,
    closest_teams,
    find_team,
    rank_teams,
)
from bot.store.store import Store
from bot.store.teams import TeamInfo, TeamStore


class UnknownTeam(LookupError):
    """No team of that name; `suggestions` are the closest names."""

    def __init__(self, name: str, suggestions: list[str]) -> None:
        self.name, self.suggestions = name, suggestions
        super().__init__(name)

    def sentence(self) -> str:
        text = f"There is no team called “{self.name}”."
        if self.suggestions:
            text += " Did you mean " + " or ".join(f"“{s}”" for s in self.suggestions) + "?"
        return text


@dataclass(frozen=True)
class TeamPeriodBoard:
    period: str
    title: str
    label: str
    name: str
    config: BoardConfig
    board: TeamBoard
    bucket_name: str
    teams: int  # teams configured (ranked or not)


@dataclass(frozen=True)
class InsideTeam:
    """The two boards of one team's members (a PeriodBoard: the person renderers apply)."""

    team: TeamInfo
    pb: PeriodBoard
    agreement: TeamAgreement  # the team's own ρ/τ over its active members
    row: TeamRow | None  # the team's line on the team board


@dataclass(frozen=True)
class Place:
    team: str
    row: TeamRow
    of: int  # teams ranked


class TeamBoards:
    def __init__(self, store: Store, now: Callable[[], datetime] | None = None) -> None:
        self.store = store
        self.teams = TeamStore(store)
        self.now = now or (lambda: datetime.now(UTC))

    def period_board(self, period: str, config: BoardConfig | None = None) -> TeamPeriodBoard:
        now = self.now()
        config = config or self.store.configs.load()
        bucket = bucket_for_period(period, self.store.tz, now)
        tz = self.store.tz
        return self.bucket_board(bucket, config, period, title=period_title(period, tz, now),
                                 label=period_label(period), name=period_name(period, tz, now))

    def bucket_board(self, bucket: Bucket, config: BoardConfig, period: str, title: str,
                     label: str, name: str = "") -> TeamPeriodBoard:
        """The team board of one calendar bucket (the digest's day)."""
        totals = self.teams.period_totals(bucket, config.raw_metric)
        return TeamPeriodBoard(period=period, title=title, label=label, name=name,
                               config=config, board=rank_teams(totals),
                               bucket_name=bucket.name, teams=len(totals))

    def resolve(self, name: str) -> TeamInfo:
        """The team called `name` (case ignored), or UnknownTeam with suggestions."""
        infos = self.teams.teams()
        found = find_team(name, infos)
        if found is None:
            raise UnknownTeam(" ".join(name.split()), closest_teams(name, infos))
        return infos[found]

    def inside(self, name: str, period: str, config: BoardConfig | None = None,
               hidden: Collection[str] = ()) -> InsideTeam:
        """The team's members on both boards, ranked within the team; people in `hidden`
        (opted out) are left out of the ranking."""
        info = self.resolve(name)
        now = self.now()
        config = config or self.store.configs.load()
        tz = self.store.tz
        return self.inside_bucket(
            info, bucket_for_period(period, tz, now), config, period,
            title=f"{info.name} · {period_title(period, tz, now)}", label=period_label(period),
            name=period_name(period, tz, now), hidden=hidden,
            team_board=self.period_board(period, config).board)

    def inside_bucket(self, info: TeamInfo, bucket: Bucket, config: BoardConfig, period: str,
                      title: str, label: str, team_board: TeamBoard, name: str = "",
                      hidden: Collection[str] = ()) -> InsideTeam:
        """The boards inside team `info` for one calendar bucket (a team's own digest),
        with `team_board`, the team board of that bucket, for the team's row."""
        scores = self.teams.member_scores(info.name, bucket, config.raw_metric)
        people = [PersonTotals(u, raw=r, points=p, tokens=t) for u, (r, p, t) in scores.items()
                  if u not in hidden]
        board = rank_board(people, top_n=config.board_size,
                           efficiency_min_tokens=config.efficiency_min_tokens)
        pb = PeriodBoard(period=period, bucket=bucket, title=title, label=label,
                         config=config, board=board, name=name)
        a = board.agreement
        return InsideTeam(team=info, pb=pb,
                          agreement=TeamAgreement(a.people, a.spearman, a.kendall),
                          row=team_board.by_team.get(info.name))

    def places(self, user: str, period: str, config: BoardConfig | None = None
               ) -> list[Place]:
        """The person's teams and their places on the team board of `period`."""
        mine = self.teams.teams_of(user)
        if not mine:
            return []
        board = self.period_board(period, config).board
        ranked = board.agreement.teams
        return [Place(t, board.by_team[t], ranked) for t in mine if t in board.by_team]
