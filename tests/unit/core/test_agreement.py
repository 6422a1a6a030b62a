"""bot.core.agreement: how far the two boards agree, in words and in numbers.

Every expected sentence is written out by hand; the ρ and τ of the boards built here are
worked out in tests/unit/core/test_ranking.py.
"""

from __future__ import annotations

import pytest

from bot.core.agreement import (
    Agreement,
    agreement_sentence,
    agreement_strength,
    agreement_summary,
)
from bot.core.ranking import PersonTotals, rank_board


def P(user: str, raw: float, points: float) -> PersonTotals:
    return PersonTotals(user=user, raw=raw, points=points, tokens=raw)


# ρ = -0.30, τ = -0.20 (tests/unit/core/test_ranking.py, test_distinct_correlations)
DISTINCT = [P("a", 500, 10), P("b", 400, 50), P("c", 300, 20), P("d", 200, 40), P("e", 100, 30)]


def test_negative_correlation_sentence():
    a = rank_board(DISTINCT, top_n=3).agreement
    assert agreement_sentence(a, "this week") == (
        "Raw usage and outcomes disagreed weakly this week: ρ = -0.30 (Kendall τ = -0.20) "
        "over 5 people; 2 of the raw top 3 are not in the outcome top 3."
    )


@pytest.mark.parametrize(
    ("rho", "word"),
    [
        (None, "no measurable"),
        (0.0, "barely"),
        (0.1999, "barely"),
        (0.2, "weakly"),
        (-0.39, "weakly"),
        (0.4, "moderately"),
        (0.6, "strongly"),
        (-0.79, "strongly"),
        (0.8, "very strongly"),
        (-1.0, "very strongly"),
    ],
)
def test_agreement_strength(rho, word):
    assert agreement_strength(rho) == word


def test_agreement_sentence_example_from_spec():
    a = Agreement(people=54, spearman=0.31, kendall=0.22, top_n=10, missing_from_outcome_top=4)
    assert agreement_sentence(a, "this week") == (
        "Raw usage and outcomes agreed weakly this week: ρ = 0.31 (Kendall τ = 0.22) "
        "over 54 people; 4 of the raw top 10 are not in the outcome top 10."
    )


def test_agreement_sentence_negative_moderate():
    a = Agreement(people=12, spearman=-0.456, kendall=-0.333, top_n=5, missing_from_outcome_top=3)
    assert agreement_sentence(a, "today") == (
        "Raw usage and outcomes disagreed moderately today: ρ = -0.46 (Kendall τ = -0.33) "
        "over 12 people; 3 of the raw top 5 are not in the outcome top 5."
    )


def test_agreement_in_words_then_statistics() -> None:
    a = Agreement(people=54, spearman=-0.31, kendall=-0.22, top_n=10,
                  missing_from_outcome_top=7)
    assert agreement_summary(a, "in the week of 23 Nov") == (
        "Usage and outcomes mostly disagree in the week of 23 Nov: 7 of the 10 heaviest "
        "users are not in the outcome top 10.",
        "Spearman ρ = -0.31, Kendall τ = -0.22 over 54 people "
        "(1 = same order, 0 = unrelated, −1 = reversed).")
    mostly = Agreement(people=30, spearman=0.7, kendall=0.5, top_n=10,
                       missing_from_outcome_top=2)
    assert agreement_summary(mostly, "today")[0] == (
        "Usage and outcomes mostly agree today: 8 of the 10 heaviest users are also in the "
        "outcome top 10.")
    none = Agreement(people=30, spearman=-0.9, kendall=-0.8, top_n=10,
                     missing_from_outcome_top=10)
    assert agreement_summary(none, "today")[0] == (
        "Usage and outcomes disagree today: none of the 10 heaviest users is in the outcome "
        "top 10.")
    few = Agreement(people=3, spearman=-1.0, kendall=-1.0, top_n=3, missing_from_outcome_top=0)
    assert agreement_summary(few, "today") == (
        "Too few people to compare the two boards yet (3 active).", None)


def test_agreement_of_a_constructed_board() -> None:
    # 12 people; usage order U00..U11; points reward the light users: the usage top 5
    # (U00-U04) have 0-4 points, U05-U11 have 10+ — so all of the top 5 miss the outcome top 5.
    people = [PersonTotals(f"U{i:02d}", 1000.0 * (12 - i), (i if i < 5 else 10.0 + i),
                           1000.0 * (12 - i)) for i in range(12)]
    board = rank_board(people, top_n=5)
    words, _ = agreement_summary(board.agreement, "today")
    assert words == ("Usage and outcomes disagree today: none of the 5 heaviest users is in "
                     "the outcome top 5.")
