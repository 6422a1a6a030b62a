"""The digest's slope chart: each person's rank by usage (left) → rank by outcomes (right).

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

from bot.plaintext import plain_text
from bot.ranking import Row

UP, DOWN, FLAT = "#1a7f37", "#cf222e", "#6e7781"


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


def _draw(rows: Sequence[Row], names: Mapping[str, str], title: str) -> bytes:
    n = max(len(rows), 1)
    left = {r.user: i for i, r in enumerate(sorted(rows, key=lambda r: (r.raw_rank, r.user)))}
    right = {r.user: i for i, r in enumerate(
        sorted(rows, key=lambda r: (r.outcome_rank, r.user)))}
    fig = Figure(figsize=(8, max(4.0, 0.3 * n + 1.4)), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for row in rows:
        color = UP if row.move > 0 else DOWN if row.move < 0 else FLAT
        name = plain_text(names.get(row.user, row.user), limit=24)
        y0, y1 = left[row.user], right[row.user]
        ax.plot([0, 1], [y0, y1], color=color, linewidth=1.6, marker="o", markersize=4)
        ax.text(-0.03, y0, f"{name}  #{row.raw_rank}", ha="right", va="center", fontsize=8,
                parse_math=False, usetex=False)
        ax.text(1.03, y1, f"#{row.outcome_rank}  {name}", ha="left", va="center", fontsize=8,
                parse_math=False, usetex=False)
    ax.set_xlim(-0.9, 1.9)
    ax.set_ylim(n - 0.4, -0.6)
    ax.set_xticks([0, 1], ["rank by usage", "rank by outcomes"])
    ax.set_yticks([])
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.set_title(title, fontsize=11, parse_math=False, usetex=False)
    fig.tight_layout()
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
