"""The slope chart (digest and /leaderboard): rank by usage (left) → rank by outcomes (right).

Pure: plain data in, PNG bytes out (matplotlib's headless Agg backend, no pyplot state).
Names are drawn as plain text: sanitized by `bot.plaintext.plain_text`, with mathtext
(`$…$`) and TeX turned off for every text object, so a name like `$x^$` is just a name.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

from matplotlib import rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from bot.plaintext import plain_text
from bot.ranking import Row

# Okabe–Ito colours, distinguishable with every common colour-vision deficiency; the
# line style says the same again (solid up, dashed down, dotted same) for greyscale.
UP, DOWN, FLAT = "#0072B2", "#D55E00", "#7F7F7F"
STYLE = {UP: "-", DOWN: "--", FLAT: ":"}
DPI = 200  # 2× a standard screen: sharp on phones
WIDTH_IN = 7.0
NAME_CHARS = 20
LABEL_PT, TICK_PT, TITLE_PT = 10, 11, 13


def chart_people(raw: Sequence[Row], outcome: Sequence[Row], size: int) -> list[Row]:
    """Everyone on either top-`size` list, in raw order then outcome order."""
    seen: dict[str, Row] = {}
    for row in list(raw[:size]) + list(outcome[:size]):
        seen.setdefault(row.user, row)
    return list(seen.values())


def slope_chart(rows: Sequence[Row], names: Mapping[str, str], title: str) -> bytes:
    """PNG bytes of a slope chart from raw rank to outcome rank for `rows`.

    Each side lists the people in rank order at evenly spaced slots (labels carry the
    real rank), so ties and long tails never pile labels on top of each other.
    """
    # text.parse_math=False: no mathtext for any text (names, title, ticks); usetex off.
    with rc_context({"text.parse_math": False, "text.usetex": False}):
        return _draw(rows, names, title)


def _colour(move: int) -> str:
    return UP if move > 0 else DOWN if move < 0 else FLAT


def layout(rows: Sequence[Row]) -> tuple[dict[str, int], dict[str, int], int, int]:
    """Slots (0 = top) on the left (usage order) and right (outcome order), how many
    people form the "no outcomes" group (0: no group) and how many slots are drawn.

    People tied at zero outcome points share the last outcome rank: two or more of them
    are drawn as one group on the right instead of a column of identical "#k" labels."""
    zero = [r for r in rows if r.points <= 0]
    group = len(zero) if len(zero) >= 2 else 0
    scored = [r for r in rows if not (group and r.points <= 0)]
    left = {r.user: i for i, r in enumerate(sorted(rows, key=lambda r: (r.raw_rank, r.user)))}
    right = {r.user: i for i, r in enumerate(
        sorted(scored, key=lambda r: (r.outcome_rank, r.user)))}
    if group:
        right.update({r.user: len(scored) for r in zero})
    slots = max(len(rows), len(scored) + (1 if group else 0), 1)
    return left, right, group, slots


def _draw(rows: Sequence[Row], names: Mapping[str, str], title: str) -> bytes:
    left, right, group, n = layout(rows)
    grouped = group > 0
    group_y = max(right.values()) if grouped else 0
    fig = Figure(figsize=(WIDTH_IN, max(4.5, 0.36 * n + 2.2)), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for row in rows:
        color = _colour(row.move)
        name = plain_text(names.get(row.user, row.user), limit=NAME_CHARS)
        y0, y1 = left[row.user], right[row.user]
        ax.plot([0, 1], [y0, y1], color=color, linestyle=STYLE[color], linewidth=2.2,
                marker="o", markersize=5)
        ax.text(-0.04, y0, f"{name}  #{row.raw_rank}", ha="right", va="center",
                fontsize=LABEL_PT, parse_math=False, usetex=False)
        if not (grouped and row.points <= 0):
            ax.text(1.04, y1, f"#{row.outcome_rank}  {name}", ha="left", va="center",
                    fontsize=LABEL_PT, parse_math=False, usetex=False)
    if grouped:
        ax.text(1.04, group_y, f"no outcomes ({group} people)", ha="left", va="center",
                fontsize=LABEL_PT, fontstyle="italic", parse_math=False, usetex=False)
    ax.set_xlim(-1.0, 2.0)
    ax.set_ylim(n - 0.4, -0.6)
    ax.set_xticks([0, 1], ["rank by usage", "rank by outcomes"], fontsize=TICK_PT)
    ax.set_yticks([])
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.set_title(title, fontsize=TITLE_PT, parse_math=False, usetex=False)
    legend = [Line2D([], [], color=UP, linestyle=STYLE[UP], linewidth=2.2,
                     label="climbs when ranked by outcomes"),
              Line2D([], [], color=DOWN, linestyle=STYLE[DOWN], linewidth=2.2,
                     label="falls when ranked by outcomes"),
              Line2D([], [], color=FLAT, linestyle=STYLE[FLAT], linewidth=2.2,
                     label="same place on both")]
    fig.legend(handles=legend, loc="outside lower center", ncols=1, fontsize=LABEL_PT,
               frameon=False)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def alt_text(rows: Sequence[Row], names: Mapping[str, str]) -> str:
    """A screen-reader description: who moved most between the boards."""
    if not rows:
        return "Slope chart with no one on it."
    up = max(rows, key=lambda r: (r.move, r.user))
    down = min(rows, key=lambda r: (r.move, r.user))
    def name(user: str) -> str:
        return plain_text(names.get(user, user), limit=80)

    text = (f"Slope chart of {len(rows)} people from their rank by usage to their rank by "
            f"outcomes. Biggest climb: {name(up.user)}, #{up.raw_rank} to "
            f"#{up.outcome_rank}. Biggest drop: {name(down.user)}, "
            f"#{down.raw_rank} to #{down.outcome_rank}.")
    return text[:1000]
