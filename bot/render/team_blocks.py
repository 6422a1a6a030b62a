"""Block Kit for teams: the team board (private and shared), inside a team, the viewer's
own line when individuals are not ranked (display "teams"), the digest's teams section
and App Home's "your teams". Pure functions of their data; every team name is escaped."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ContextBlock,
    HeaderBlock,
    SectionBlock,
)

from bot.boards.teams import InsideTeam, Place, TeamPeriodBoard
from bot.core.ranking import Row
from bot.core.teams import TeamRow, team_agreement_summary
from bot.render.blocks import (
    escape,
    escape_short,
    fmt_move,
    fmt_number,
    fmt_raw,
    mrkdwn,
    period_actions,
    person_label,
)

TEAM_PERIOD_ACTION = "teams_period"  # action ids: teams_period_<period>
TEAM_SHARE_ACTION = "teams_share"
ROWS = 25
PER_MEMBER_LEGEND = ("Ranked per member active in the period (the team's total beside it); "
                     "↑/↓ places gained or lost when ranked by outcomes instead of usage.")


def _line(rank: int | None, row: TeamRow, per_member: str, total: str) -> str:
    place = f"#{rank}" if rank is not None else "–"
    move = f" {fmt_move(row.move)}" if row.move is not None else ""
    return (f"{place} *{escape_short(row.team)}* {per_member}/member "
            f"({total} total, {row.active}/{row.members} active){move}")


def _boards(tb: TeamPeriodBoard, rows: int = ROWS) -> list[Block]:
    metric = tb.config.raw_metric
    raw = [_line(r.raw_rank, r, fmt_raw(r.raw_per_member, metric), fmt_number(r.raw))
           for r in tb.board.raw[:rows]]
    pts = [_line(r.outcome_rank, r, f"{fmt_number(r.points_per_member)} pts",
                 fmt_number(r.points)) for r in tb.board.outcome[:rows]]
    return [SectionBlock(text=mrkdwn(text=("*By usage*\n" + "\n".join(raw))[:3000])),
            SectionBlock(text=mrkdwn(text=("*By outcomes*\n" + "\n".join(pts))[:3000]))]


def _agreement(tb: TeamPeriodBoard) -> list[Block]:
    words, numbers = team_agreement_summary(tb.board.agreement, tb.label)
    out: list[Block] = [SectionBlock(text=mrkdwn(text=words))]
    out.append(ContextBlock(elements=[mrkdwn(text=f"{numbers + ' ' if numbers else ''}"
                                               f"{PER_MEMBER_LEGEND}")]))
    return out


def team_actions(period: str, sharing: bool) -> ActionsBlock:
    return period_actions(period, sharing, TEAM_PERIOD_ACTION, TEAM_SHARE_ACTION,
                          "teams_actions")


def own_line(row: Row | None, people: int, metric: str) -> str:
    """The viewer's own places, for them only."""
    if row is None:
        return "You have no usage or outcomes in this period yet."
    return (f"*You (only you see this):* #{row.raw_rank} by usage "
            f"({fmt_raw(row.raw, metric)}), #{row.outcome_rank} by outcomes "
            f"({fmt_number(row.points)} pts) of {people} people.")


def team_board_blocks(tb: TeamPeriodBoard, sharing: bool = False,
                      mine: Sequence[Place] = (), own: str | None = None) -> list[dict]:
    """The private `/leaderboard teams` answer: both team boards, agreement, the viewer's
    teams (and, when individuals are not ranked, the viewer's own line), period buttons
    and "Share in channel"."""
    blocks: list[Block] = [HeaderBlock(text=f"Teams · {tb.title}"[:150])]
    if not tb.teams:
        blocks.append(SectionBlock(text=mrkdwn(
            text="No teams yet. An admin can name Slack user groups in `/leaderboard config` "
                 "or import a CSV with `tokenboard teams import`.")))
        return [b.to_dict() for b in blocks]
    blocks += _boards(tb) + _agreement(tb)
    if mine:
        blocks.append(SectionBlock(text=mrkdwn(text=places_text(mine))))
    if own:
        blocks.append(SectionBlock(text=mrkdwn(text=own)))
    blocks.append(team_actions(tb.period, sharing))
    return [b.to_dict() for b in blocks]


def shared_team_board_blocks(tb: TeamPeriodBoard, sharer: str) -> tuple[list[dict], str]:
    """The team board posted in a channel: teams only, nobody named but who shared it."""
    blocks: list[Block] = [HeaderBlock(text=f"Teams · {tb.title}"[:150])]
    blocks += _boards(tb) + _agreement(tb)
    blocks.append(ContextBlock(elements=[mrkdwn(
        text=f"Shared by <@{sharer}> with `/leaderboard teams`.")]))
    return [b.to_dict() for b in blocks], f"Team leaderboard · {tb.title}"


def places_text(places: Sequence[Place]) -> str:
    lines = []
    for p in places:
        r = p.row
        if r.raw_rank is None:
            lines.append(f"*{escape(p.team)}*: no activity in this period")
        else:
            lines.append(f"*{escape(p.team)}*: #{r.raw_rank} by usage, #{r.outcome_rank} by "
                         f"outcomes of {p.of} teams ({r.active}/{r.members} active)")
    return "*Your teams*\n" + "\n".join(lines)


def inside_team_blocks(inside: InsideTeam, viewer: str, names: Mapping[str, str],
                       teams_only: bool, own: str | None = None) -> list[dict]:
    """`/leaderboard team NAME`: the team's line, its own ρ, and its members' two boards
    (teams only: no member is named; the viewer gets their own line)."""
    pb = inside.pb
    info = inside.team
    blocks: list[Block] = [HeaderBlock(text=f"Team {info.name} · {pb.title}"[:150])]
    head = f"*{escape(info.name)}*: {info.size} members"
    if info.note:
        head += f"\n_{escape(info.note)}_"
    row = inside.row
    if row is not None and row.raw_rank is not None:
        head += (f"\nOn the team board: #{row.raw_rank} by usage, #{row.outcome_rank} by "
                 f"outcomes per active member ({row.active} active).")
    blocks.append(SectionBlock(text=mrkdwn(text=head[:3000])))
    words, numbers = team_agreement_summary(inside.agreement, pb.label, unit="members")
    blocks.append(SectionBlock(text=mrkdwn(text=words)))
    if numbers:
        blocks.append(ContextBlock(elements=[mrkdwn(text=numbers)]))
    if teams_only:
        blocks.append(ContextBlock(elements=[mrkdwn(
            text="Individuals are not ranked in this workspace: only teams are.")]))
        if own:
            blocks.append(SectionBlock(text=mrkdwn(text=own)))
        return [b.to_dict() for b in blocks]
    metric, size = pb.config.raw_metric, pb.config.board_size
    display = pb.config.display

    def who(r: Row) -> str:
        return person_label(r.user, names, display, viewer)

    raw = [f"#{r.raw_rank} {who(r)} {fmt_raw(r.raw, metric)} {fmt_move(r.move)}"
           for r in pb.board.raw[:size]]
    pts = [f"#{r.outcome_rank} {who(r)} {fmt_number(r.points)} pts {fmt_move(r.move)}"
           for r in pb.board.outcome[:size]]
    if raw:
        blocks += [SectionBlock(text=mrkdwn(text=("*By usage*\n" + "\n".join(raw))[:3000])),
                   SectionBlock(text=mrkdwn(text=("*By outcomes*\n" + "\n".join(pts))[:3000]))]
    else:
        blocks.append(SectionBlock(text=mrkdwn(text=f"Nobody in the team is active "
                                                     f"{pb.label}.")))
    return [b.to_dict() for b in blocks]


def digest_teams_blocks(tb: TeamPeriodBoard, rows: int = 5) -> list[dict]:
    """The digest's teams section: the top teams of both boards and their agreement."""
    if tb.board.agreement.teams == 0:
        return []
    blocks: list[Block] = [SectionBlock(text=mrkdwn(text=f"*Teams {tb.label}*"))]
    blocks += _boards(tb, rows) + _agreement(tb)
    return [b.to_dict() for b in blocks]


def home_teams_blocks(places: Sequence[Place]) -> list[dict]:
    """App Home: the person's teams and their places this week."""
    if not places:
        return []
    return [SectionBlock(text=mrkdwn(text=places_text(places).replace(
        "*Your teams*", "*Your teams this week*", 1)[:3000])).to_dict()]
