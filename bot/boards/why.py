"""Why a person's outcome points are what they are, in plain words: what they did, what
counted, what was discounted and why, and how often their merges were taken back.

`explain` is pure (outcome counts of a period + the configuration → `Why`), and so is
`why_blocks` (→ Block Kit); `outcome_counts` picks the outcome fields out of a person's
summed day counts, which `bot.boards.usage.person_usage_and_why` reads once for both the
usage split and this.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

from slack_sdk.models.blocks import Block, ContextBlock, MarkdownTextObject, SectionBlock

from bot.core.config import BoardConfig
from bot.core.outcome_rules import fraction_of, reason
from bot.core.periods import Bucket

NOUNS = {"pr_merged": "pull requests merged", "review": "reviews",
         "deploy": "deploys", "ticket_resolved": "tickets closed",
         "incident_resolved": "incidents resolved"}
SHORT = {"pr_merged": "pull requests", "ticket_resolved": "tickets",
         "incident_resolved": "incidents"}
TAKE_BACK = {"cwd": "taken back because the commit then failed to deploy",
             "cwi": "taken back because an incident named them"}


@dataclass
class KindWhy:
    kind: str
    noun: str
    done: float = 0  # outcomes reported
    counted: float = 0  # after the fractions, before the daily cap and the transform
    discounts: list[tuple[float, str, float]] = field(default_factory=list)  # n, why, ×


@dataclass
class Why:
    kinds: list[KindWhy]
    taken_back: list[tuple[float, str]]  # (merges, why)
    merged: float = 0
    reverted: float = 0

    @property
    def revert_rate(self) -> float | None:
        return self.reverted / self.merged if self.merged else None


def explain(counts: dict[str, float], config: BoardConfig) -> Why:
    """`counts`: outcome fields of a period (`o:<kind>` and `o:<kind>~<mods>` → count)."""
    table = config.modifier_fractions()
    kinds: dict[str, KindWhy] = {}
    reasons: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 1.0])
    taken: dict[str, float] = defaultdict(float)
    merged = reverted = 0.0
    for name, n in counts.items():
        if not name.startswith("o:") or not n:
            continue
        kind, _, suffix = name[2:].partition("~")
        if kind not in config.outcomes:
            continue
        mods = tuple(m for m in suffix.split("+") if m)
        if "revert" in mods:
            causes = [m for m in mods if m in TAKE_BACK]
            if kind == "pr_merged" and not causes:
                reverted += n
            for cause in causes or ["revert"]:
                taken[TAKE_BACK.get(cause, "reverted")] += n
            continue
        entry = kinds.setdefault(kind, KindWhy(kind, NOUNS.get(
            kind, config.outcomes[kind].label.lower())))
        entry.done += n
        entry.counted += n * fraction_of(mods, table)
        if kind == "pr_merged":
            merged += n
        for mod in mods:
            why = reason(mod, config)
            if why is not None:
                slot = reasons[(kind, why)]
                slot[0] += n
                slot[1] = fraction_of((mod,), table)
    for (kind, why), (n, frac) in reasons.items():
        kinds[kind].discounts.append((n, why, frac))
    for entry in kinds.values():
        entry.discounts.sort(key=lambda d: (-d[0], d[1]))
    order = list(config.outcomes)
    return Why(kinds=sorted(kinds.values(), key=lambda k: order.index(k.kind)),
               taken_back=sorted(((n, w) for w, n in taken.items()), key=lambda t: -t[0]),
               merged=merged, reverted=reverted)


def _n(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:.1f}"


def _worth(fraction: float) -> str:
    if fraction <= 0:
        return "not counted"
    return f"each counts as {_n(fraction) if fraction >= 0.1 else f'{fraction:.2f}'}"


def why_lines(why: Why) -> list[str]:
    """Plain sentences, most telling first; empty when there is nothing to say."""
    lines = []
    for k in why.kinds:
        head = f"{_n(k.done)} {k.noun}"
        if abs(k.counted - k.done) > 1e-9:
            head += f", {_n(round(k.counted, 1))} counted"
        lines.append(head)
        for n, text, fraction in k.discounts:
            lines.append(f"    {_n(n)} {SHORT.get(k.kind, k.noun)} {text}: {_worth(fraction)}")
    for n, text in why.taken_back:
        lines.append(f"{_n(n)} merged pull requests {text}")
    return lines


def revert_line(why: Why) -> str | None:
    rate = why.revert_rate
    if rate is None:
        return None
    return (f"Revert rate: {_n(why.reverted)} of {_n(why.merged)} merged pull requests "
            f"reverted ({rate:.0%})")


def why_blocks(why: Why, title: str = "How your outcome points were made") -> list[dict]:
    """Block Kit for `why` (nothing when there are no outcomes)."""
    lines = why_lines(why)
    if not lines:
        return []
    text = "\n".join(f"• {line.strip()}" if not line.startswith("    ")
                     else f"    ◦ {line.strip()}" for line in lines)
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(
        text=f"*{title}*\n{text}"[:3000], verbatim=True))]
    context = revert_line(why)
    notes = [context] if context else []
    if any(k.discounts for k in why.kinds):
        notes.append("Discounts are the board's rules against cheap outcomes; an admin sets "
                     "them, and a change applies to the past too.")
    if notes:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=" · ".join(notes),
                                                                verbatim=True)]))
    return [b.to_dict() for b in blocks]


def period_days(bucket: Bucket, today: date, retention_days: int) -> list[date]:
    """The days of `bucket` up to `today` (all time: the retention window)."""
    if bucket.scope == "d":
        return [date.fromisoformat(bucket.name)]
    if bucket.scope == "w":
        first = date.fromisocalendar(int(bucket.name[:4]), int(bucket.name[6:]), 1)
        last = first + timedelta(days=6)
    elif bucket.scope == "m":
        first = date.fromisoformat(bucket.name + "-01")
        last = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    else:
        first, last = today - timedelta(days=retention_days - 1), today
    last = min(last, today)
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def outcome_counts(counts: Mapping[str, float]) -> dict[str, float]:
    """The outcome fields (`o:…`) of summed day counts."""
    return {name: n for name, n in counts.items() if name.startswith("o:")}
