"""The slope chart (digest and /leaderboard): rank by usage (left) → rank by outcomes (right).

Pure: plain data in, PNG bytes out (matplotlib's headless Agg backend, no pyplot state).
Names are drawn as plain text: sanitized by `bot.core.plaintext.plain_text`, with mathtext
(`$…$`) and TeX turned off for every text object, so a name like `$x^$` is just a name.

A line's colour and style say how the person's two ranks compare, never which way the line
happens to point on screen: among people with outcome points a climb is an outcome rank
better than the usage rank, a fall a worse one, "same" an equal one. People with no outcome
points have a style of their own and are placed below everyone with outcomes on the right,
so their lines always go down. `line_specs` gives every line as plain data (what `figure`
then plots), so the drawing can be checked without reading a PNG.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from matplotlib import rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from bot.core.plaintext import plain_text
from bot.core.ranking import Row

# Okabe–Ito colours, distinguishable with every common colour-vision deficiency; the
# line style says the same again for greyscale.
UP, DOWN, SAME_COLOUR, NONE_COLOUR = "#0072B2", "#D55E00", "#000000", "#999999"
CLIMB, FALL, SAME, NO_OUTCOMES = "climb", "fall", "same", "no outcomes"
KINDS = (CLIMB, FALL, SAME, NO_OUTCOMES)  # also the legend's order
DPI = 200  # 2× a standard screen: sharp on phones
WIDTH_IN = 7.0
NAME_CHARS = 20
LABEL_PT, TICK_PT, TITLE_PT = 10, 11, 13
LINE_WIDTH = 2.2


def preload() -> None:
    """Import what drawing any chart needs (matplotlib's date formatting included, which
    `rank_chart` imports when it first draws), so that a process that forks workers can
    import it once for all of them, before the first board."""
    import matplotlib.dates  # noqa: F401


@dataclass(frozen=True, slots=True)
class Style:
    """How one kind of line is drawn, and what the legend calls it."""

    colour: str
    linestyle: str
    label: str


STYLES: dict[str, Style] = {
    CLIMB: Style(UP, "-", "climbs when ranked by outcomes"),
    FALL: Style(DOWN, "--", "falls when ranked by outcomes"),
    SAME: Style(SAME_COLOUR, ":", "same place on both"),
    NO_OUTCOMES: Style(NONE_COLOUR, "-.", "no outcomes (ranked last)"),
}


@dataclass(frozen=True, slots=True)
class LineSpec:
    """One person's line as drawn: from slot y0 on the left to slot y1 on the right
    (0 = top), with the colour, line style and legend label of its kind."""

    user: str
    kind: str
    y0: int
    y1: int
    colour: str
    linestyle: str
    label: str


def classify(row: Row) -> str:
    """`NO_OUTCOMES` for someone without outcome points; otherwise `CLIMB`, `FALL` or
    `SAME` by comparing their outcome rank with their usage rank (1 is best)."""
    if row.points <= 0:
        return NO_OUTCOMES
    if row.outcome_rank < row.raw_rank:
        return CLIMB
    if row.outcome_rank > row.raw_rank:
        return FALL
    return SAME


def line_style(row: Row) -> Style:
    """The colour, line style and legend label of `row`'s line."""
    return STYLES[classify(row)]


def chart_people(raw: Sequence[Row], outcome: Sequence[Row], size: int) -> list[Row]:
    """Everyone on either top-`size` list, in raw order then outcome order."""
    seen: dict[str, Row] = {}
    for row in list(raw[:size]) + list(outcome[:size]):
        seen.setdefault(row.user, row)
    return list(seen.values())


def layout(rows: Sequence[Row]) -> tuple[dict[str, int], dict[str, int], int, int]:
    """Slots (0 = top) on the left (usage order) and right (outcome order), how many
    people form the "no outcomes" group (0: no group) and how many slots are drawn.

    People with no outcome points share the last outcome rank. Two or more of them are
    drawn as one group on the right instead of a column of identical "#k" labels; a group
    or a lone one is placed below everyone with outcomes on the right and below each of
    them on the left, so their lines always go down."""
    zero = [r for r in rows if r.points <= 0]
    group = len(zero) if len(zero) >= 2 else 0
    scored = [r for r in rows if r.points > 0]
    left = {r.user: i for i, r in enumerate(sorted(rows, key=lambda r: (r.raw_rank, r.user)))}
    right = {r.user: i for i, r in enumerate(
        sorted(scored, key=lambda r: (r.outcome_rank, r.user)))}
    slots = max(len(rows), 1)
    if zero:
        bottom = max(len(scored), max(left[r.user] for r in zero) + 1)
        right.update({r.user: bottom for r in zero})
        slots = max(slots, bottom + 1)
    return left, right, group, slots


def line_specs(rows: Sequence[Row]) -> list[LineSpec]:
    """Every line of the chart, in `rows` order: where it starts and ends and its style."""
    left, right, _, _ = layout(rows)
    specs = []
    for row in rows:
        kind = classify(row)
        style = STYLES[kind]
        specs.append(LineSpec(user=row.user, kind=kind, y0=left[row.user],
                              y1=right[row.user], colour=style.colour,
                              linestyle=style.linestyle, label=style.label))
    return specs


def legend_styles(specs: Sequence[LineSpec]) -> list[Style]:
    """The legend: one entry per kind of line drawn, in a fixed order."""
    drawn = {s.kind for s in specs}
    return [STYLES[kind] for kind in KINDS if kind in drawn]


def slope_chart(rows: Sequence[Row], names: Mapping[str, str], title: str) -> bytes:
    """PNG bytes of a slope chart from raw rank to outcome rank for `rows`.

    Each side lists the people in rank order at evenly spaced slots (labels carry the
    real rank), so ties and long tails never pile labels on top of each other.
    """
    # text.parse_math=False: no mathtext for any text (names, title, ticks); usetex off.
    with rc_context({"text.parse_math": False, "text.usetex": False}):
        fig = figure(rows, names, title)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
    return buffer.getvalue()


def figure(rows: Sequence[Row], names: Mapping[str, str], title: str) -> Figure:
    """The chart as a matplotlib Figure (Agg canvas): `line_specs` plotted in order."""
    with rc_context({"text.parse_math": False, "text.usetex": False}):
        return _draw(rows, names, title)


def _draw(rows: Sequence[Row], names: Mapping[str, str], title: str) -> Figure:
    _, _, group, n = layout(rows)
    specs = line_specs(rows)
    fig = Figure(figsize=(WIDTH_IN, max(4.5, 0.36 * n + 2.2)), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    group_y = None
    for row, spec in zip(rows, specs, strict=True):
        name = plain_text(names.get(row.user, row.user), limit=NAME_CHARS)
        ax.plot([0, 1], [spec.y0, spec.y1], color=spec.colour, linestyle=spec.linestyle,
                linewidth=LINE_WIDTH, marker="o", markersize=5, gid=row.user)
        ax.text(-0.04, spec.y0, f"{name}  #{row.raw_rank}", ha="right", va="center",
                fontsize=LABEL_PT, parse_math=False, usetex=False)
        if group and spec.kind == NO_OUTCOMES:
            group_y = spec.y1
        else:
            ax.text(1.04, spec.y1, f"#{row.outcome_rank}  {name}", ha="left", va="center",
                    fontsize=LABEL_PT, parse_math=False, usetex=False)
    if group_y is not None:
        ax.text(1.04, group_y, f"no outcomes ({group} people)", ha="left", va="center",
                fontsize=LABEL_PT, fontstyle="italic", parse_math=False, usetex=False)
    ax.set_xlim(-1.0, 2.0)
    ax.set_ylim(n - 0.4, -0.6)
    ax.set_xticks([0, 1], ["rank by usage", "rank by outcomes"], fontsize=TICK_PT)
    ax.set_yticks([])
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.set_title(title, fontsize=TITLE_PT, parse_math=False, usetex=False)
    legend = [Line2D([], [], color=s.colour, linestyle=s.linestyle, linewidth=LINE_WIDTH,
                     label=s.label) for s in legend_styles(specs)]
    if legend:
        fig.legend(handles=legend, loc="outside lower center", ncols=1, fontsize=LABEL_PT,
                   frameon=False)
    return fig


def slope_chart_alt(rows: Sequence[Row], names: Mapping[str, str]) -> str:
    """A screen-reader description: who climbed and fell most between the boards, and
    who has no outcomes (never counted as a climb)."""
    if not rows:
        return "Slope chart with no one on it."

    def name(user: str) -> str:
        return plain_text(names.get(user, user), limit=80)

    climbs = [r for r in rows if classify(r) == CLIMB]
    falls = [r for r in rows if classify(r) == FALL]
    same = [r for r in rows if classify(r) == SAME]
    none = sorted((r for r in rows if classify(r) == NO_OUTCOMES),
                  key=lambda r: (r.raw_rank, r.user))
    parts = [f"Slope chart of {len(rows)} people from their rank by usage to their rank "
             "by outcomes."]
    if climbs:
        up = min(climbs, key=lambda r: (r.outcome_rank - r.raw_rank, r.user))
        parts.append(f"Biggest climb: {name(up.user)}, #{up.raw_rank} to #{up.outcome_rank}.")
    if falls:
        down = min(falls, key=lambda r: (r.raw_rank - r.outcome_rank, r.user))
        parts.append(f"Biggest drop: {name(down.user)}, #{down.raw_rank} to "
                     f"#{down.outcome_rank}.")
    if same:
        parts.append(f"Same place on both: {len(same)}.")
    if none:
        listed = ", ".join(f"{name(r.user)} (#{r.raw_rank} by usage)" for r in none[:5])
        more = f" and {len(none) - 5} more" if len(none) > 5 else ""
        parts.append(f"No outcomes, ranked last: {listed}{more}.")
    return " ".join(parts)[:1000]
