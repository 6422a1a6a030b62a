"""Per-person totals of a period, as the store aggregates them and ranking reads them.

Pure: numpy columns and frozen dataclasses, no I/O.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass

import numpy as np

__all__ = ["PersonTotals", "Totals"]


@dataclass(frozen=True, slots=True)
class PersonTotals:
    """One person's aggregated totals for the period, as produced by the store."""

    user: str
    """Slack user id."""
    raw: float
    """The raw board metric for the period (tokens by default; may be cost or requests)."""
    points: float
    """Outcome points for the period (already weighted/capped by the store)."""
    tokens: float
    """Tokens for the period; used for efficiency and the "high usage, no outcomes" flag."""


@dataclass(frozen=True)
class Totals:
    """Per-person totals as columns: what the store reads and what ranking computes on.

    Iterating yields PersonTotals, for code that wants one person at a time.
    """

    users: list[str]
    raw: np.ndarray
    points: np.ndarray
    tokens: np.ndarray

    @classmethod
    def of(cls, people: Iterable[PersonTotals]) -> Totals:
        everyone = list(people)
        return cls(users=[p.user for p in everyone],
                   raw=np.array([p.raw for p in everyone], dtype=np.float64),
                   points=np.array([p.points for p in everyone], dtype=np.float64),
                   tokens=np.array([p.tokens for p in everyone], dtype=np.float64))

    def __len__(self) -> int:
        return len(self.users)

    def __iter__(self) -> Iterator[PersonTotals]:
        for user, raw, points, tokens in zip(self.users, self.raw.tolist(),
                                             self.points.tolist(), self.tokens.tolist(),
                                             strict=True):
            yield PersonTotals(user=user, raw=raw, points=points, tokens=tokens)

    def where(self, keep: np.ndarray) -> Totals:
        return Totals(users=[u for u, k in zip(self.users, keep.tolist(), strict=True) if k],
                      raw=self.raw[keep], points=self.points[keep], tokens=self.tokens[keep])

    def without(self, hidden: Collection[str]) -> Totals:
        """Everyone except the `hidden` user ids (e.g. people who opted out)."""
        if not hidden:
            return self
        return self.where(np.array([u not in hidden for u in self.users], dtype=bool))

    def minus(self, other: Totals) -> Totals:
        """These totals less `other`'s, person by person (people only in `other` ignored)."""
        if not len(other) or not len(self):
            return self
        mine = np.array(self.users)
        order = np.argsort(mine)
        theirs = np.array(other.users)
        pos = order[np.minimum(np.searchsorted(mine, theirs, sorter=order), len(mine) - 1)]
        found = mine[pos] == theirs
        pos, found_idx = pos[found], np.nonzero(found)[0]
        raw, points, tokens = self.raw.copy(), self.points.copy(), self.tokens.copy()
        raw[pos] -= other.raw[found_idx]
        points[pos] -= other.points[found_idx]
        tokens[pos] -= other.tokens[found_idx]
        for column in (raw, points, tokens):  # float residue of a - a is not activity
            column[np.abs(column) < 1e-9] = 0.0
        return Totals(users=self.users, raw=raw, points=points, tokens=tokens)
