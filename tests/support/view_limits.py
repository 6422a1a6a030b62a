"""Slack's limits on a view (blocks, text lengths), checked over a built view; a
configuration with many outcome kinds to push them."""

from __future__ import annotations

from bot.core.config import DEFAULT_OUTCOMES, BoardConfig, OutcomeRule


def check_view_limits(view: dict) -> list[str]:
    """Slack's modal limits; returns the block ids."""
    assert view["type"] == "modal"
    assert 0 < len(view["title"]["text"]) <= 24
    assert len(view["blocks"]) <= 100
    assert len(view.get("private_metadata", "")) <= 3000
    ids = [b["block_id"] for b in view["blocks"] if "block_id" in b]
    assert len(ids) == len(set(ids)), "block ids must be unique"
    return ids


def many_kinds_config(total: int) -> BoardConfig:
    """The 6 default kinds, then k07..k<total>, each weight 1, cap 5, sqrt."""
    outcomes = dict(DEFAULT_OUTCOMES)
    for i in range(len(outcomes) + 1, total + 1):
        outcomes[f"k{i:02d}"] = OutcomeRule(label=f"Kind number {i}", weight=1, cap=5)
    return BoardConfig(outcomes=outcomes)
