"""Plain-text rendering of the two boards for the terminal (`tokenboard leaderboard`, demo).

Names go through `bot.core.plaintext.plain_text`, so a display name cannot send escape
sequences or bidi overrides to the terminal."""

from __future__ import annotations

from collections.abc import Mapping

from bot.boards.leaderboard import PeriodBoard
from bot.core.agreement import agreement_sentence
from bot.core.plaintext import plain_text
from bot.core.ranking import Row
from bot.render.blocks import fmt_move, fmt_number, fmt_raw

COL = 44
EFFICIENCY_SHOWN = 5


def side_by_side_people(pb: PeriodBoard, size: int | None = None) -> list[str]:
    """Everyone `side_by_side` shows, each once: both top lists and the efficiency
    leaders, who may be on neither."""
    size = size or pb.config.board_size
    rows = (pb.board.raw[:size] + pb.board.outcome[:size]
            + pb.board.efficiency_leaders[:EFFICIENCY_SHOWN])
    return list(dict.fromkeys(r.user for r in rows))


def _cell(rank: int, name: str, value: str, move: str, flag: bool) -> str:
    name = plain_text(name, limit=20)
    text = f"{rank:>3}. {name:<20} {value:>11} {move:>4}{' ⚑' if flag else ''}"
    return text[:COL].ljust(COL)


def side_by_side(pb: PeriodBoard, names: Mapping[str, str], size: int | None = None) -> str:
    """Both boards in two columns, rank moves, then the agreement sentence."""
    size = size or pb.config.board_size
    metric = pb.config.raw_metric
    lines = [pb.title, ""]
    if not pb.board.raw:
        return "\n".join(lines + [f"No usage or outcomes reported {pb.label}."])
    lines.append(f"{'BY USAGE (' + metric + ')':<{COL}} | BY OUTCOMES (points)")
    lines.append("-" * COL + "-+-" + "-" * COL)
    for i in range(min(size, len(pb.board.raw))):
        left, right = pb.board.raw[i], pb.board.outcome[i]
        lines.append(
            _cell(left.raw_rank, names.get(left.user, left.user), fmt_raw(left.raw, metric)
                  .replace(" tokens", ""), fmt_move(left.move), left.flagged)
            + " | "
            + _cell(right.outcome_rank, names.get(right.user, right.user),
                    fmt_number(right.points), fmt_move(right.move), right.flagged).rstrip()
        )
    lines += ["", "↑/↓: places gained or lost when ranked by outcomes instead of usage; "
              "⚑ high usage, no outcomes.", agreement_sentence(pb.board.agreement, pb.label)]
    flagged = pb.board.flagged_count
    lines.append(f"{flagged} of {len(pb.board.raw)} active people flagged "
                 "\"high usage, no outcomes\".")
    if pb.board.efficiency_leaders:
        best = ", ".join(f"{plain_text(names.get(r.user, r.user), 40)} ({r.efficiency:.1f})"
                         for r in pb.board.efficiency_leaders[:EFFICIENCY_SHOWN])
        lines.append(f"Most efficient (outcome points per 1M tokens): {best}.")
    return "\n".join(lines)


def board_json(pb: PeriodBoard, names: Mapping[str, str]) -> dict:
    """The `--json` form: one list per ranking plus the agreement figures."""
    def row(r: Row, score: float, rank: int) -> dict:
        return {"user": r.user, "name": plain_text(names.get(r.user, r.user)), "score": score,
                "rank": rank, "move": r.move, "flagged": r.flagged,
                "efficiency": r.efficiency}

    a = pb.board.agreement
    return {
        "period": pb.period,
        "bucket": pb.bucket.name,
        "raw_metric": pb.config.raw_metric,
        "raw": [row(r, r.raw, r.raw_rank) for r in pb.board.raw],
        "outcome": [row(r, r.points, r.outcome_rank) for r in pb.board.outcome],
        "agreement": {"people": a.people, "spearman": a.spearman, "kendall": a.kendall,
                      "top_n": a.top_n, "missing_from_outcome_top": a.missing_from_outcome_top},
    }
