"""How outcome counts become points: weight × transform(min(count, daily cap)).

Applied per person, per outcome kind, per local day, so a flood of trivial outcomes
on one day earns less and less and then nothing. The store's Lua script applies the
same formula incrementally; `tests/test_store.py` checks the two agree.
"""

from __future__ import annotations

import math
from typing import Literal

Transform = Literal["linear", "sqrt", "log"]
TRANSFORMS: tuple[str, ...] = ("linear", "sqrt", "log")


def transform(value: float, kind: str) -> float:
    """linear: x; sqrt: √x; log: ln(1 + x)."""
    if kind == "linear":
        return float(value)
    if kind == "sqrt":
        return math.sqrt(value)
    if kind == "log":
        return math.log1p(value)
    raise ValueError(f"unknown transform {kind!r}; use one of {', '.join(TRANSFORMS)}")


def day_points(count: float, weight: float, cap: int | None, kind: str) -> float:
    """Points for `count` outcomes of one kind by one person on one day."""
    capped = min(count, cap) if cap else count
    return weight * transform(max(capped, 0), kind)
