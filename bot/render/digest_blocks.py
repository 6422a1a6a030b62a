"""The daily digest's content, as pure functions of plain data.

Names are plain, escaped text by default, so a daily post pings nobody; only when an
admin chooses "names as @mentions" does the digest mention people, and "anonymous"
names nobody. Flagged people are counted, never named.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    HeaderBlock,
    SectionBlock,
)

from bot.boards.leaderboard import PeriodBoard
from bot.boards.usage import UsageSummary
from bot.core.agreement import MIN_TO_COMPARE, agreement_strength, agreement_summary
from bot.core.ranking import Row
from bot.render.blocks import board_columns, escape, fmt_move, mrkdwn, person_label
from bot.render.chart import CLIMB, chart_people, classify
from bot.render.usage_blocks import usage_by_tool

MOVES_SHOWN = 3
EFFICIENCY_SHOWN = 3


@dataclass(frozen=True)
class DigestData:
    day: date
    day_board: PeriodBoard
    previous_rho: float | None
    """ρ of the day before, None when it is not quoted: undefined, or fewer than
    `MIN_TO_COMPARE` people were active that day."""
    week_rho: float | None
    """ρ of the week to date, None when it is not quoted (as `previous_rho`)."""
    changes: list[str] = field(default_factory=list)  # configuration changes to mention
    tools: UsageSummary | None = None  # the org's usage that day split by tool

    @property
    def active(self) -> bool:
        return bool(self.day_board.board.raw)


def digest_people(data: DigestData) -> list[str]:
    """Everyone the digest (and its chart) can show, each once: both top lists, which hold
    the biggest moves, and the efficiency leaders, who may be on neither."""
    board = data.day_board.board
    rows = (chart_people(board.raw, board.outcome, data.day_board.config.board_size)
            + board.efficiency_leaders[:EFFICIENCY_SHOWN])
    return list(dict.fromkeys(r.user for r in rows))


def biggest_moves(data: DigestData) -> tuple[list[Row], list[Row]]:
    """Climbers and fallers among the people on either top list, biggest first.

    Only people with outcome points climb: someone with none shares the last outcome
    rank, which can be a smaller number than their usage rank without being better."""
    rows = chart_people(data.day_board.board.raw, data.day_board.board.outcome,
                        data.day_board.config.board_size)
    up = sorted((r for r in rows if classify(r) == CLIMB), key=lambda r: (-r.move, r.user))
    down = sorted((r for r in rows if r.move < 0), key=lambda r: (r.move, r.user))
    return up[:MOVES_SHOWN], down[:MOVES_SHOWN]


def rho_sentence(data: DigestData) -> str:
    """'Raw usage and outcomes agreed weakly on Mon 23 Nov: ρ = 0.31 (…)'.

    With fewer than `MIN_TO_COMPARE` active people it says so in words, as /leaderboard
    does, and quotes no ρ at all (not the day before's or the week's either)."""
    a = data.day_board.board.agreement
    when = f"on {data.day:%a %d %b}"
    if a.people < MIN_TO_COMPARE:
        return agreement_summary(a, when)[0]
    if a.spearman is None:
        return f"Too little activity {when} to compare the two boards."
    verb = "agreed" if a.spearman >= 0 else "disagreed"
    text = (f"Raw usage and outcomes {verb} {agreement_strength(a.spearman)} {when}: "
            f"ρ = {a.spearman:.2f} over {a.people} people.")
    if data.previous_rho is not None:
        text += (f" The day before: ρ = {data.previous_rho:.2f} "
                 f"(change {a.spearman - data.previous_rho:+.2f}).")
    if data.week_rho is not None:
        text += f" Week to date: ρ = {data.week_rho:.2f}."
    if 0 < a.top_n < a.people:
        verb = "is" if a.missing_from_outcome_top == 1 else "are"
        text += (f" {a.missing_from_outcome_top} of the top {a.top_n} by usage {verb} not in "
                 f"the top {a.top_n} by outcomes.")
    return text


def _who(row: Row, names: Mapping[str, str], display: str) -> str:
    return person_label(row.user, names, display)


def _changes_blocks(data: DigestData) -> list[Block]:
    if not data.changes:
        return []
    return [SectionBlock(text=mrkdwn(
        text="*Scoring changed since the last digest:*\n"
             + "\n".join(f"• {escape(c)}" for c in data.changes[:10])))]


def digest_blocks(data: DigestData, names: Mapping[str, str]) -> tuple[list[dict], str]:
    """Block Kit for the digest and its plain-text fallback."""
    title = f"Daily AI leaderboard · {data.day:%a %d %b %Y}"
    blocks: list[Block] = [HeaderBlock(text=title)]
    if not data.active:
        text = f"No AI usage or outcomes were reported on {data.day:%a %d %b}."
        blocks.append(SectionBlock(text=mrkdwn(text=text)))
        blocks += _changes_blocks(data)  # announced even on a quiet day
        return [b.to_dict() for b in blocks], text
    display = data.day_board.config.display
    left, right = board_columns(data.day_board, names, show_flags=False)
    blocks.append(SectionBlock(fields=[mrkdwn(text=left),
                                       mrkdwn(text=right)]))
    blocks.append(SectionBlock(text=mrkdwn(text=rho_sentence(data))))
    up, down = biggest_moves(data)
    lines = []
    if up:
        lines.append("*Climb when ranked by outcomes:* " + ", ".join(
            f"{_who(r, names, display)} #{r.raw_rank} → #{r.outcome_rank} ({fmt_move(r.move)})"
            for r in up))
    if down:
        lines.append("*Fall when ranked by outcomes:* " + ", ".join(
            f"{_who(r, names, display)} #{r.raw_rank} → #{r.outcome_rank} ({fmt_move(r.move)})"
            for r in down))
    if lines:
        blocks.append(SectionBlock(text=mrkdwn(text="\n".join(lines))))
    board = data.day_board.board
    extra = []
    if board.efficiency_leaders:
        leaders = board.efficiency_leaders[:EFFICIENCY_SHOWN]
        extra.append("*Most efficient* (outcome points per 1M tokens): " + ", ".join(
            f"{_who(r, names, display)} {r.efficiency:.1f}" for r in leaders))
    flagged = board.flagged_count
    people = "person" if flagged == 1 else "people"
    extra.append(f"*High usage, no outcomes:* {flagged} {people} "
                 "(not named here; admins can review them in `/leaderboard`).")
    blocks.append(SectionBlock(text=mrkdwn(text="\n".join(extra))))
    split = usage_by_tool(data.tools) if data.tools else None
    if split:
        blocks.append(SectionBlock(text=mrkdwn(text=split[:3000])))
    blocks += _changes_blocks(data)
    blocks.append(ContextBlock(elements=[mrkdwn(
        text="↑/↓: places gained or lost when ranked by outcomes instead of usage. "
             "Type `/leaderboard help` to see why there are two boards.")]))
    return [b.to_dict() for b in blocks], f"{title}: {rho_sentence(data)}"
