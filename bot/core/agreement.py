"""How far the raw board and the outcome board agree: Spearman's ρ and Kendall's τ-b over
the active people, the top-N overlap, and the words the digest and the replies put them in.

Pure, like `bot.core.ranking` (which computes an `Agreement` for every board): no Redis,
no Slack, no clock. Correlations use SciPy (`spearmanr`, `kendalltau`, τ-b), checking
first that they are defined so that scipy never warns and no NaN reaches a reader.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from bot.core.totals import Totals

__all__ = [
    "MIN_TO_COMPARE",
    "PENDING",
    "Agreement",
    "agreement_sentence",
    "agreement_strength",
    "agreement_summary",
    "correlations",
    "spearman",
]


@dataclass(frozen=True, slots=True)
class Agreement:
    """How well the raw board and the outcome board agree over the active people."""

    people: int
    """Number of active people compared."""
    spearman: float | None
    """Spearman rho on (raw, points), average ranks for ties; None when undefined."""
    kendall: float | None
    """Kendall tau-b on (raw, points), tie-corrected; None when undefined."""
    top_n: int
    """The N actually used for the top-N comparison: min(requested N, people)."""
    missing_from_outcome_top: int
    """How many of the raw top N are not in the outcome top N."""


def _finite_or_none(value: float) -> float | None:
    """scipy signals "undefined" with NaN; the rest of the bot expects None."""
    value = float(value)
    return None if math.isnan(value) else value


def correlations(raw: np.ndarray, points: np.ndarray) -> tuple[float | None, float | None]:
    """Spearman rho and Kendall tau-b, or None where they are mathematically undefined.

    Both are undefined with fewer than two people or when either side is constant
    (e.g. nobody has any points yet). We check that up front instead of letting scipy
    emit a ConstantInputWarning and NaN.
    """
    if raw.size < 2 or np.ptp(raw) == 0 or np.ptp(points) == 0:
        return None, None
    rho = stats.spearmanr(raw, points).statistic
    tau = stats.kendalltau(raw, points).statistic  # variant="b" is scipy's default
    return _finite_or_none(rho), _finite_or_none(tau)


def spearman(totals: Totals) -> float | None:
    """Spearman ρ between the two boards over the active people (None when undefined);
    for context figures that need no rows (the day before, the week to date)."""
    active = (np.abs(totals.raw) > 1e-9) | (np.abs(totals.points) > 1e-9) | (
        np.abs(totals.tokens) > 1e-9)
    raw, points = totals.raw[active], totals.points[active]
    if raw.size < 2 or np.ptp(raw) == 0 or np.ptp(points) == 0:
        return None
    return _finite_or_none(stats.spearmanr(raw, points).statistic)


def agreement_strength(rho: float | None) -> str:
    """Describe |rho| in words, so the digest reads as a sentence rather than a statistic.

    None -> "no measurable"; |rho| < 0.2 "barely", < 0.4 "weakly", < 0.6 "moderately",
    < 0.8 "strongly", otherwise "very strongly". The sign is handled by the caller
    ("agreed" vs "disagreed").
    """
    if rho is None or math.isnan(rho):
        return "no measurable"
    r = abs(rho)
    if r < 0.2:
        return "barely"
    if r < 0.4:
        return "weakly"
    if r < 0.6:
        return "moderately"
    if r < 0.8:
        return "strongly"
    return "very strongly"


def fmt_coefficient(value: float) -> str:
    """Two decimals, without a confusing "-0.00"."""
    text = f"{value:.2f}"
    return "0.00" if text == "-0.00" else text


def agreement_sentence(a: Agreement, period_label: str) -> str:
    """One plain sentence for the digest, e.g.

    "Raw usage and outcomes agreed weakly this week: ρ = 0.31 (Kendall τ = 0.22) over
    54 people; 4 of the raw top 10 are not in the outcome top 10."

    Negative rho reads "disagreed". With fewer than two people or an undefined rho the
    sentence says there is not enough activity, rather than printing a meaningless number.
    ``period_label`` ("today", "this week", ...) is inserted verbatim.
    """
    if a.people < 2 or a.spearman is None or math.isnan(a.spearman):
        return f"Not enough activity {period_label} to compare the two boards."
    verb = "disagreed" if a.spearman < 0 else "agreed"
    kendall = "n/a" if a.kendall is None or math.isnan(a.kendall) else fmt_coefficient(a.kendall)
    sentence = (
        f"Raw usage and outcomes {verb} {agreement_strength(a.spearman)} {period_label}: "
        f"ρ = {fmt_coefficient(a.spearman)} (Kendall τ = {kendall}) over {a.people} people"
    )
    if a.top_n > 0:
        be = "is" if a.missing_from_outcome_top == 1 else "are"
        sentence += (
            f"; {a.missing_from_outcome_top} of the raw top {a.top_n} {be} not in the "
            f"outcome top {a.top_n}"
        )
    return sentence + "."


MIN_TO_COMPARE = 5
"""Below this many active people the boards are not compared: a ρ of -1.00 over three
people says nothing."""


PENDING = ("ρ and τ over everyone are being computed for this period; they appear here "
           "within a minute.")


def agreement_summary(a: Agreement, when: str, age: float | None = None,
                      pending: bool = False) -> tuple[str, str | None]:
    """Words first, statistics second: a plain sentence, then the ρ/τ line (None when
    there is nothing meaningful to quote).

    ``when`` is inserted verbatim ("today", "in the week of 23 Nov"). The sentence rests
    on the top-N overlap when the boards are longer than N ("Usage and outcomes mostly
    disagree in the week of 23 Nov: 7 of the 10 heaviest users are not in the outcome top
    10."), and on ρ when everyone is on both top lists.

    ``age``: seconds since ρ and τ were computed, when the data changed since (said in
    the statistics line); ``pending``: they are not computed yet (a large org's first
    read), so only the top-N overlap can be put in words.
    """
    n = a.people
    if n < MIN_TO_COMPARE:
        return f"Too few people to compare the two boards yet ({n} active).", None
    if pending:
        if not 0 < a.top_n < n:
            return f"Usage and outcomes {when}: {PENDING}", None
        a = Agreement(people=n, spearman=0.0, kendall=None, top_n=a.top_n,
                      missing_from_outcome_top=a.missing_from_outcome_top)
        return agreement_summary(a, when)[0], PENDING
    if a.spearman is None or math.isnan(a.spearman):
        return (f"The two boards cannot be compared {when}: everyone ties on one of them "
                f"(usually: no outcomes reported yet; {n} active).", None)
    top, missing = a.top_n, a.missing_from_outcome_top
    if 0 < top < n:
        kept = top - missing
        if missing == 0:
            words = (f"agree {when}: the {top} heaviest users are also the outcome "
                     f"top {top}")
        elif missing == top:
            words = (f"disagree {when}: none of the {top} heaviest users is in the "
                     f"outcome top {top}")
        elif 2 * missing < top:
            be = "is" if kept == 1 else "are"
            words = (f"mostly agree {when}: {kept} of the {top} heaviest users {be} also "
                     f"in the outcome top {top}")
        else:
            be = "is" if missing == 1 else "are"
            verb = "only half agree" if 2 * missing == top else "mostly disagree"
            words = (f"{verb} {when}: {missing} of the {top} heaviest users {be} not in "
                     f"the outcome top {top}")
    else:
        rho = a.spearman
        verb = ("agree" if rho >= 0.6 else "mostly agree" if rho >= 0.2
                else "barely relate" if rho > -0.2 else "mostly disagree" if rho > -0.6
                else "disagree")
        words = f"{verb} {when} across all {n} people"
    kendall = "n/a" if a.kendall is None or math.isnan(a.kendall) else fmt_coefficient(a.kendall)
    stats_line = (f"Spearman ρ = {fmt_coefficient(a.spearman)}, Kendall τ = {kendall} "
                  f"over {n} people (1 = same order, 0 = unrelated, −1 = reversed)")
    if age is not None:
        stats_line += f", computed {_ago(age)} ago from everyone's numbers"
    return f"Usage and outcomes {words}.", stats_line + "."


def _ago(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    return f"{round(seconds / 3600)} h"

