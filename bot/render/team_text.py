"""Plain-text team boards for the terminal (`tokenboard leaderboard --teams`, `--team`)."""

from __future__ import annotations

from bot.boards.teams import InsideTeam, TeamPeriodBoard
from bot.core.plaintext import plain_text
from bot.core.teams import TeamRow, team_agreement_summary
from bot.render.blocks import fmt_move, fmt_number, fmt_raw

COL = 52


def _cell(rank: int | None, row: TeamRow, per_member: str, total: str) -> str:
    name = plain_text(row.team, limit=18)
    place = f"{rank:>3}." if rank is not None else "  -."
    move = fmt_move(row.move) if row.move is not None else ""
    text = (f"{place} {name:<18} {per_member:>9}/member {total:>7} "
            f"{row.active}/{row.members} {move}")
    return text[:COL].ljust(COL)


def team_side_by_side(tb: TeamPeriodBoard) -> str:
    """Both team boards in two columns (per active member, total, active/members, move),
    then how far they agree."""
    metric = tb.config.raw_metric
    lines = [f"Teams · {tb.title}", ""]
    if not tb.teams:
        return "\n".join(lines + ["No teams yet: `tokenboard teams import FILE` or set "
                                  "team_usergroups."])
    lines.append(f"{'BY USAGE PER ACTIVE MEMBER (' + metric + ')':<{COL}} | "
                 "BY OUTCOMES PER ACTIVE MEMBER (points)")
    lines.append("-" * COL + "-+-" + "-" * COL)
    for left, right in zip(tb.board.raw, tb.board.outcome, strict=True):
        lines.append(
            _cell(left.raw_rank, left, fmt_raw(left.raw_per_member, metric)
                  .replace(" tokens", ""), fmt_number(left.raw))
            + " | "
            + _cell(right.outcome_rank, right, fmt_number(right.points_per_member),
                    fmt_number(right.points)).rstrip())
    words, stats = team_agreement_summary(tb.board.agreement, tb.label)
    lines += ["", "Per member: the team's total over its members active in the period "
              "(active/members); ↑/↓ places gained or lost ranked by outcomes.", words]
    if stats:
        lines.append(stats)
    return "\n".join(lines)


def team_list_text(rows: list[dict]) -> str:
    """`tokenboard teams list`: each team with its source and members."""
    if not rows:
        return "No teams yet."
    out = []
    for r in rows:
        source = f"Slack user group @{r['handle']}" if r["source"] == "usergroup" else "CSV"
        out.append(f"{plain_text(r['team'])} ({len(r['members'])} members, {source})")
        if r.get("note"):
            out.append(f"  note: {plain_text(r['note'])}")
        if r.get("digest_channel"):
            out.append(f"  digest of its own in {r['digest_channel']}")
        out.append("  " + (", ".join(r["members"]) or "(nobody)"))
    return "\n".join(out)


def inside_team_header(inside: InsideTeam) -> list[str]:
    """The team's own line and its ρ, above its members' two boards."""
    lines = [f"Team {plain_text(inside.team.name)}: {inside.team.size} members"]
    row = inside.row
    if row is not None and row.raw_rank is not None:
        lines.append(f"On the team board: #{row.raw_rank} by usage, #{row.outcome_rank} by "
                     f"outcomes per active member ({row.active} active).")
    words, stats = team_agreement_summary(inside.agreement, inside.pb.label, unit="members")
    return lines + [words] + ([stats] if stats else []) + [""]
