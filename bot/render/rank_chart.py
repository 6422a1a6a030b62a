"""One person's daily ranks drawn for their App Home: a PNG chart (matplotlib Agg) or,
when the chart cannot be shown, a text sparkline. Pure: `DayRanks` in (read by
`bot.boards.rank_history.daily_ranks`), bytes and text out.

The chart's colours name the board a line shows (usage or outcomes), never a direction;
a day the viewer had no outcome points is not part of the outcome line but a grey hollow
marker at the shared last place (`rank_lines` gives the series as data).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.boards.rank_history import DayRanks
from bot.core.config import RAW_METRIC_LABELS

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["Series", "rank_chart", "rank_chart_alt", "rank_figure", "rank_lines", "sparkline",
           "sparkline_text", "summary"]

BARS = "▁▂▃▄▅▆▇█"
USAGE_COLOUR, OUTCOME_COLOUR, NO_OUTCOMES_COLOUR = "#e01e5a", "#2eb67d", "#999999"


@dataclass(frozen=True)
class Series:
    """One series of the App Home chart: a rank per day (NaN: not drawn that day)."""

    key: str  # "usage", "outcomes" or "no outcomes"
    ranks: list[float]
    colour: str
    linestyle: str
    marker: str
    label: str


def sparkline(values: Sequence[int | None]) -> str:
    """Ranks as bars, taller = better (1 is the tallest); a day off the boards is `·`."""
    known = [v for v in values if v is not None]
    if not known:
        return ""
    best, worst = min(known), max(known)
    out = []
    for value in values:
        if value is None:
            out.append("·")
        elif worst == best:
            out.append(BARS[-1])
        else:
            level = round((worst - value) / (worst - best) * (len(BARS) - 1))
            out.append(BARS[level])
    return "".join(out)


def summary(history: Sequence[DayRanks]) -> str:
    """One line of plain text: the latest known ranks and the best ones."""
    ranked = [h for h in history if h.raw is not None]
    if not ranked:
        return "Not on the boards in the last 30 days."
    last = ranked[-1]
    best_raw = min(h.raw for h in ranked if h.raw is not None)
    earned = [h.outcome for h in ranked if h.outcome is not None and not h.no_outcomes]
    notes = ["shared last: no outcomes that day"] if last.no_outcomes else []
    notes.append(f"best #{best_raw} and #{min(earned)}" if earned
                 else f"best #{best_raw} by usage, no outcomes on any day")
    notes.append(f"on the boards {len(ranked)} of {len(history)} days")
    return (f"{last.day:%d %b}: #{last.raw} by usage, #{last.outcome} by outcomes "
            f"({'; '.join(notes)})")


def sparkline_text(history: Sequence[DayRanks], raw_metric: str = "tokens") -> str:
    """The text fallback of the chart, as mrkdwn (code spans keep the bars aligned)."""
    label = RAW_METRIC_LABELS.get(raw_metric, raw_metric)
    return (f"`{sparkline([h.raw for h in history])}` by usage ({label})\n"
            f"`{sparkline([h.outcome for h in history])}` by outcomes\n"
            f"{summary(history)} · taller is better, `·` no activity")


def rank_lines(history: Sequence[DayRanks], raw_metric: str = "tokens") -> list[Series]:
    """What the chart plots, as data: the usage ranks, the outcome ranks of the days with
    outcome points, and (only when there are any) the days without, as markers alone.
    Each colour stands for one board, whatever the ranks do from day to day."""
    nan = math.nan
    label = RAW_METRIC_LABELS.get(raw_metric, raw_metric)
    series = [
        Series("usage", [float(h.raw) if h.raw is not None else nan for h in history],
               USAGE_COLOUR, "-", "o", f"by usage ({label})"),
        Series("outcomes", [float(h.outcome) if h.outcome is not None and not h.no_outcomes
                            else nan for h in history],
               OUTCOME_COLOUR, "-", "o", "by outcomes"),
    ]
    if any(h.no_outcomes and h.outcome is not None for h in history):
        series.append(Series("no outcomes", [float(h.outcome) if h.no_outcomes and
                                             h.outcome is not None else nan
                                             for h in history],
                             NO_OUTCOMES_COLOUR, "none", "o", "no outcomes (ranked last)"))
    return series


def rank_chart(history: Sequence[DayRanks], raw_metric: str = "tokens") -> bytes:
    """A small PNG: rank by usage and by outcomes per day, rank 1 at the top."""
    fig = rank_figure(history, raw_metric)
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()


def rank_figure(history: Sequence[DayRanks], raw_metric: str = "tokens") -> Figure:
    """The chart as a matplotlib Figure (Agg canvas): `rank_lines` plotted in order."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import DateFormatter
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 2.4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    days = [h.day for h in history]
    for series in rank_lines(history, raw_metric):
        hollow = series.key == "no outcomes"
        ax.plot(days, series.ranks, marker=series.marker, markersize=4 if hollow else 3,
                color=series.colour, linestyle=series.linestyle, label=series.label,
                markerfacecolor="none" if hollow else series.colour, gid=series.key)
    ax.invert_yaxis()
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_ylabel("rank", usetex=False)
    ax.tick_params(labelsize=7)
    ax.xaxis.set_major_formatter(DateFormatter("%d %b"))
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def rank_chart_alt(history: Sequence[DayRanks], raw_metric: str = "tokens") -> str:
    """The chart's alt text: how many days, and the `summary` line."""
    return f"Your daily rank over the last {len(history)} days. {summary(history)}."
