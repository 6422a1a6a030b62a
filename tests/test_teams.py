"""Teams, pure: the CSV format, ranking per active member, agreement words, names."""

from __future__ import annotations

import random

import pytest
from scipy import stats

from bot.core.teams import (
    CsvRefused,
    TeamAgreement,
    TeamTotals,
    board_json,
    closest_teams,
    find_team,
    parse_team_csv,
    rank_teams,
    team_agreement_summary,
    team_totals_from_people,
)


def test_csv_rows_are_memberships_and_a_person_may_be_in_several_teams() -> None:
    text = ("team,slack_user\nPlatform,U0A\nPlatform,U0B\n\n\"Data, Science\",U0B\n"
            "Platform,U0A\n  Web   app ,W0C\n")
    assert parse_team_csv(text) == {"Platform": {"U0A", "U0B"}, "Data, Science": {"U0B"},
                                    "Web app": {"W0C"}}


def test_a_bad_csv_is_refused_whole_naming_every_bad_line() -> None:
    text = ("team,slack_user\n"
            "Platform,U0A\n"           # 2 fine
            "Platform\n"               # 3 one column
            ",U0B\n"                   # 4 no team
            "Web,alice@example.com\n"  # 5 not a user id
            "Web,U0C\n"                # 6 fine
            "Web,U0D,extra\n")         # 7 three columns
    with pytest.raises(CsvRefused) as refused:
        parse_team_csv(text)
    assert [line for line, _ in refused.value.problems] == [3, 4, 5, 7]
    assert "3, 4, 5, 7" in str(refused.value)


@pytest.mark.parametrize("text, line", [("", 1), ("name,user\nA,U0A\n", 1),
                                        ("\n\nteam,slack_user\nA,U0A\nB,x\n", 5)])
def test_header_and_empty_files(text: str, line: int) -> None:
    with pytest.raises(CsvRefused) as refused:
        parse_team_csv(text)
    assert refused.value.problems[0][0] == line


def test_teams_rank_per_active_member_with_the_total_beside() -> None:
    # big has more tokens in total, small more per active member
    board = rank_teams([TeamTotals("big", 12, 10, raw=10_000, points=50),
                        TeamTotals("small", 4, 2, raw=4_000, points=2),
                        TeamTotals("idle", 3, 0, raw=0, points=0)])
    assert [(r.team, r.raw_rank, r.raw_per_member) for r in board.raw] == [
        ("small", 1, 2000.0), ("big", 2, 1000.0), ("idle", None, 0.0)]
    assert [(r.team, r.outcome_rank) for r in board.outcome] == [
        ("big", 1), ("small", 2), ("idle", None)]
    assert board.by_team["big"].move == 1 and board.by_team["small"].move == -1
    data = board_json(board, "week", "2026-W48", "tokens")
    assert data["raw"][0] == {"team": "small", "score": 4000, "per_member": 2000.0, "rank": 1,
                              "move": -1, "members": 4, "active": 2}
    assert data["agreement"]["teams"] == 2


def test_agreement_is_spearman_and_kendall_over_per_member_figures() -> None:
    rng = random.Random(4)
    teams = [TeamTotals(f"t{i}", 10, rng.randint(1, 10), raw=rng.randint(0, 10**6),
                        points=rng.randint(0, 400)) for i in range(30)]
    board = rank_teams(teams)
    raw = [t.raw / t.active for t in teams]
    pts = [t.points / t.active for t in teams]
    assert board.agreement.spearman == pytest.approx(stats.spearmanr(raw, pts).statistic)
    assert board.agreement.kendall == pytest.approx(stats.kendalltau(raw, pts).statistic)
    words, numbers = team_agreement_summary(board.agreement, "this week")
    assert words.startswith("Usage and outcomes per member") and "30 active teams" in words
    assert numbers is not None and "Spearman ρ" in numbers


def test_too_few_teams_below_five() -> None:
    words, numbers = team_agreement_summary(TeamAgreement(4, 1.0, 1.0), "this week")
    assert words.startswith("Too few teams") and numbers is None
    words, _ = team_agreement_summary(TeamAgreement(5, None, None), "this week")
    assert "cannot be compared" in words


def test_a_person_in_two_teams_counts_in_both() -> None:
    got = {t.team: t for t in team_totals_from_people(
        {"a": {"U1", "U2"}, "b": {"U2", "U3"}}, {"U1": (10, 1), "U2": (5, 2)})}
    assert (got["a"].raw, got["a"].active, got["b"].raw, got["b"].active) == (15, 2, 5, 1)


def test_names_are_found_ignoring_case_and_unknown_ones_get_suggestions() -> None:
    names = ["Platform", "Payments", "Data Science", "Web"]
    assert find_team("  platform ", names) == "Platform"
    assert find_team("platfrm", names) is None
    assert closest_teams("platfrm", names)[0] == "Platform"
    assert "Data Science" in closest_teams("data", names)
