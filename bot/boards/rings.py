"""Where a review ring is forming, for admins (App Home): pairs of people who reviewed
each other at least `review_reciprocal_min` times each way this ISO week or the last.
`ring_lines` is pure; `ring_note` reads the pair counts kept by `bot.store.outcome_ledger`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.core.config import BoardConfig
from bot.core.outcome_rules import rings
from bot.render.blocks import escape
from bot.runtime.deps import Deps
from bot.store.outcome_ledger import iso_week

SHOWN = 8


def ring_lines(found: list[dict], names: dict[str, str], week: str) -> list[str]:
    """'Ana ⇄ Ben: 7 and 6 reviews of each other (2026-W48)' per pair, largest first."""
    return [f"{escape(names.get(r['a'], r['a']))} ⇄ {escape(names.get(r['b'], r['b']))}: "
            f"{r['ab']} and {r['ba']} reviews of each other ({week})" for r in found]


def ring_note(deps: Deps, config: BoardConfig, now: datetime | None = None) -> str | None:
    now = now or datetime.now(UTC)
    ledger = deps.store.outcome_ledger
    lines: list[str] = []
    for week in dict.fromkeys((iso_week(now), iso_week(now - timedelta(days=7)))):
        found = rings(ledger.pairs(week), config.review_reciprocal_min)
        if not found:
            continue
        people = sorted({p for r in found for p in (r["a"], r["b"])})
        users = dict(zip(people, deps.identities.resolve_many(people), strict=True))
        slack = deps.directory.names(sorted({u for u in users.values() if u.startswith("U")}))
        names = {p: slack.get(users[p], p) for p in people}
        lines += ring_lines(found, names, week)
    if not lines:
        return None
    more = f"\n…and {len(lines) - SHOWN} more" if len(lines) > SHOWN else ""
    return ("*Where a review ring may be forming* (reviews traded often both ways; their "
            "reviews past the reciprocal threshold count "
            f"{config.review_reciprocal_fraction:g})\n"
            + "\n".join(f"• {line}" for line in lines[:SHOWN]) + more)
