"""Teams: who belongs where (from Slack user groups or a CSV), and the team board.

Pure: no Redis, no Slack. A team's figure on each board is its total divided by its
members *active in the period* (people with any usage or outcome in it), so a team of 12
and a team of 4 compare fairly; the total stays beside it. A person in two teams counts in
both. Teams without an active member are listed, unranked, after the ranked ones.
"""

from __future__ import annotations

import csv
import difflib
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from bot.core.agreement import MIN_TO_COMPARE, correlations, fmt_coefficient

USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
TEAM_NAME_MAX = 80
CSV_HEADER = ("team", "slack_user")
"""Below this many active teams the two team boards are not compared."""


def clean_team_name(name: str) -> str:
    """A team name as kept: surrounding and repeated blanks removed."""
    return " ".join(name.split())


def team_problem(name: str) -> str | None:
    """Why `name` cannot be a team name, or None."""
    if not name:
        return "the team name is empty"
    if len(name) > TEAM_NAME_MAX:
        return f"the team name is longer than {TEAM_NAME_MAX} characters"
    if any(ord(c) < 32 or c in "{}" for c in name):
        return "the team name has control characters or braces"
    return None


class CsvRefused(ValueError):
    """A team CSV with problems; nothing of it is used. `problems`: (line, what)."""

    def __init__(self, problems: list[tuple[int, str]]) -> None:
        self.problems = problems
        lines = ", ".join(str(line) for line, _ in problems)
        super().__init__(f"the CSV was refused whole: bad line(s) {lines}")


def parse_team_csv(text: str) -> dict[str, set[str]]:
    """`team,slack_user` rows → team → members. One row per membership; a person may be
    in several teams; repeated rows count once; blank lines are skipped. Any bad line
    refuses the whole file (CsvRefused names every bad line by its line number)."""
    problems: list[tuple[int, str]] = []
    teams: dict[str, set[str]] = {}
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header_seen = False
    line = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append((reader.line_num, f"not CSV ({exc})"))
            break
        line = reader.line_num
        if not row or all(not cell.strip() for cell in row):
            continue
        if not header_seen:
            header_seen = True
            if tuple(c.strip().lower() for c in row) != CSV_HEADER:
                problems.append((line, "the header must be `team,slack_user`"))
            continue
        if len(row) != 2:
            problems.append((line, f"expected 2 columns (team, slack_user), found {len(row)}"))
            continue
        team, user = clean_team_name(row[0]), row[1].strip()
        if (problem := team_problem(team)) is not None:
            problems.append((line, problem))
        elif not USER_ID.match(user):
            problems.append((line, f"{user!r} is not a Slack user id (like U012AB3CD)"))
        else:
            teams.setdefault(team, set()).add(user)
    if not header_seen:
        problems.append((max(line, 1), "the file is empty: the header `team,slack_user` "
                                       "is missing"))
    if problems:
        raise CsvRefused(problems)
    return teams


def find_team(name: str, names: Iterable[str]) -> str | None:
    """The team called `name` (case and spacing ignored), or None."""
    wanted = clean_team_name(name).casefold()
    return next((n for n in names if n.casefold() == wanted), None)


def closest_teams(name: str, names: Iterable[str], n: int = 3) -> list[str]:
    """Team names close to `name` (typos, prefixes), best first."""
    by_fold = {t.casefold(): t for t in names}
    wanted = clean_team_name(name).casefold()
    found = difflib.get_close_matches(wanted, list(by_fold), n=n, cutoff=0.5)
    found += [f for f in sorted(by_fold) if wanted and wanted in f and f not in found]
    return [by_fold[f] for f in found[:n]]


@dataclass(frozen=True, slots=True)
class TeamTotals:
    """One team's totals for a period, as the store keeps them."""

    team: str
    members: int
    active: int
    raw: float
    points: float


@dataclass(frozen=True, slots=True)
class TeamRow:
    team: str
    members: int
    active: int
    raw: float  # the team's total on the usage board
    points: float  # … on the outcome board
    raw_per_member: float
    points_per_member: float
    raw_rank: int | None  # competition rank per active member; None: nobody active
    outcome_rank: int | None
    move: int | None  # raw_rank - outcome_rank: positive = better on outcomes


@dataclass(frozen=True, slots=True)
class TeamAgreement:
    teams: int  # active teams compared
    spearman: float | None
    kendall: float | None


@dataclass(frozen=True)
class TeamBoard:
    raw: list[TeamRow]  # by usage per active member, then unranked teams
    outcome: list[TeamRow]  # by outcome points per active member, then unranked teams
    agreement: TeamAgreement
    by_team: dict[str, TeamRow] = field(default_factory=dict)


def competition_ranks(values: Sequence[float]) -> list[int]:
    """1 + how many values are strictly higher ("1224")."""
    ordered = sorted(values, reverse=True)
    first: dict[float, int] = {}
    for i, v in enumerate(ordered):
        first.setdefault(v, i + 1)
    return [first[v] for v in values]


def rank_teams(teams: Iterable[TeamTotals]) -> TeamBoard:
    """Both team boards, ranked per active member (ties by name), and how they agree."""
    teams = list(teams)
    active = [t for t in teams if t.active > 0]
    raw_pm = [t.raw / t.active for t in active]
    pts_pm = [t.points / t.active for t in active]
    raw_ranks, pts_ranks = competition_ranks(raw_pm), competition_ranks(pts_pm)
    rows = [TeamRow(t.team, t.members, t.active, t.raw, t.points, r, p, rr, pr, rr - pr)
            for t, r, p, rr, pr in zip(active, raw_pm, pts_pm, raw_ranks, pts_ranks,
                                       strict=True)]
    idle = sorted((TeamRow(t.team, t.members, 0, t.raw, t.points, 0.0, 0.0, None, None, None)
                   for t in teams if t.active <= 0), key=lambda r: r.team.casefold())
    rho, tau = correlations(np.asarray(raw_pm, dtype=float), np.asarray(pts_pm, dtype=float))
    by_raw = sorted(rows, key=lambda r: (r.raw_rank, r.team.casefold())) + idle
    by_pts = sorted(rows, key=lambda r: (r.outcome_rank, r.team.casefold())) + idle
    return TeamBoard(raw=by_raw, outcome=by_pts,
                     agreement=TeamAgreement(len(rows), rho, tau),
                     by_team={r.team: r for r in by_raw})


def team_agreement_summary(a: TeamAgreement, when: str,
                           unit: str = "teams") -> tuple[str, str | None]:
    """Words first, then the ρ/τ line (None when there is nothing to quote). `unit`:
    "teams" for the team board, "members" inside a team."""
    n = a.teams
    if n < MIN_TO_COMPARE:
        return (f"Too few {unit} to compare the two boards yet ({n} active; "
                f"{MIN_TO_COMPARE} needed).", None)
    if a.spearman is None:
        return (f"The two boards cannot be compared {when}: every one of the {n} {unit} "
                "ties on one of them (usually: no outcomes reported yet).", None)
    rho = a.spearman
    verb = ("agree" if rho >= 0.6 else "mostly agree" if rho >= 0.2
            else "barely relate" if rho > -0.2 else "mostly disagree" if rho > -0.6
            else "disagree")
    kendall = "n/a" if a.kendall is None else fmt_coefficient(a.kendall)
    return (f"Usage and outcomes per member {verb} {when} across the {n} active {unit}.",
            f"Spearman ρ = {fmt_coefficient(rho)}, Kendall τ = {kendall} over {n} {unit} "
            "(1 = same order, 0 = unrelated, −1 = reversed).")


def board_json(board: TeamBoard, period: str, bucket: str, raw_metric: str) -> dict:
    """The `--json` form of the team board."""
    def row(r: TeamRow, total: float, per_member: float, rank: int | None) -> dict:
        return {"team": r.team, "score": total, "per_member": per_member, "rank": rank,
                "move": r.move, "members": r.members, "active": r.active}

    a = board.agreement
    return {
        "period": period, "bucket": bucket, "raw_metric": raw_metric,
        "raw": [row(r, r.raw, r.raw_per_member, r.raw_rank) for r in board.raw],
        "outcome": [row(r, r.points, r.points_per_member, r.outcome_rank)
                    for r in board.outcome],
        "agreement": {"teams": a.teams, "spearman": a.spearman, "kendall": a.kendall},
    }


def team_totals_from_people(rosters: Mapping[str, Iterable[str]],
                            people: Mapping[str, tuple[float, float]]) -> list[TeamTotals]:
    """Team totals recomputed from per-person (raw, points) of the period (people active
    in it): what the store's team sets must equal. Used by rebuilds and tests."""
    out = []
    for team, members in rosters.items():
        members = set(members)
        here = [people[m] for m in members if m in people]
        out.append(TeamTotals(team, len(members), len(here), sum(r for r, _ in here),
                              sum(p for _, p in here)))
    return out
