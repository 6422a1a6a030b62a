"""The rules that keep cheap outcomes from paying, as pure decisions. No Redis, no Slack.

A webhook outcome is counted once, with *modifiers* decided when it arrives (see
`bot.intake.outcomes`). A modifier names what was measured, never the verdict: a review given 3
minutes after the pull request was opened carries `rq3` ("delay below the 4th step of the
minute ladder"), not "quick". The configuration turns each modifier into a fraction
(`fractions`), and the store's scoring function multiplies a modified count by the
fractions of its modifiers. So a change of a threshold (5 minutes → 10) changes which
ladder steps are discounted, rescoring re-ranks the past exactly as if the new rule had
been in force, and nothing but the day counts has to be kept. Thresholds are therefore
chosen from fixed ladders (`MINUTES`, `LINES`, ordinals up to `ORDINALS`).

Modifiers (all lower-case letters and digits; `env_` is the one family with a default):

| kind | modifier | measured |
|---|---|---|
| pr_merged | `pl<i>` | changed lines below `LINES[i]` |
| pr_merged | `self` | merged by its author, no approval from anyone else |
| pr_merged | `sq<i>` | approved by others, but all within `MINUTES[i]` of the last push |
| pr_merged | `cwd`, `cwi` (with `revert`) | taken back: a failed deploy / an incident named it |
| review | `rq<i>` | given within `MINUTES[i]` of the pull request's opening or last push |
| review | `rt<i>` | the pull request had fewer than `LINES[i]` changed lines |
| review | `rn<n>` | the n-th review by this reviewer of this author in the ISO week (n ≥ 2) |
| review | `rr<m>` | reviews both ways this week: min(this way, the other way) = m |
| ticket_resolved | `ts<i>` | closed by its opener within `MINUTES[i]` of opening it |
| ticket_resolved | `tu` | no merged pull request said it closes the issue |
| deploy | `dr` | the same repository, commit and environment was deployed before |
| deploy | `env_<name>` | deployed to an environment not marked production by the source |
| incident_resolved | `is` | resolved by who triggered it |
| incident_resolved | `iq<i>` | resolved within `MINUTES[i]` of being triggered |
| incident_resolved | `il` | low urgency |
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, Field, field_validator

MINUTES: tuple[int, ...] = (1, 2, 3, 5, 10, 15, 20, 30, 45, 60, 90, 120, 240, 480, 1440)
LINES: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 75, 100, 150,
                          200, 300, 500)
ORDINALS = 20  # pair caps and reciprocity levels go up to this; counts beyond share a step
ENV_NAME = re.compile(r"[^a-z0-9]+")
DEFAULT_PRODUCTION = ["production", "prod", "live"]


def _ladder_value(value: int, ladder: tuple[int, ...], unit: str) -> int:
    if value != 0 and value not in ladder:
        raise ValueError(f"{value} is not one of 0 (off), {', '.join(map(str, ladder))} {unit}")
    return value


class OutcomeRulesConfig(BaseModel):
    """The anti-gaming settings of `BoardConfig` (it inherits these fields). Fractions are
    what a count carrying the rule's modifier is scaled by (0 = counts nothing, 1 = the
    rule is off); several rules on one count multiply."""

    # pull requests
    pr_small_lines: int = Field(default=10, ge=0, le=LINES[-1])
    pr_small_fraction: float = Field(default=0.2, ge=0, le=1)
    pr_self_merge_fraction: float = Field(default=0.5, ge=0, le=1)
    # approved by others only within review_quick_minutes of the last push (rubber stamps)
    pr_quick_approval_fraction: float = Field(default=0.2, ge=0, le=1)
    # reviews
    review_quick_minutes: int = Field(default=5, ge=0, le=MINUTES[-1])
    review_quick_fraction: float = Field(default=0.0, ge=0, le=1)
    review_tiny_lines: int = Field(default=5, ge=0, le=LINES[-1])
    review_tiny_fraction: float = Field(default=0.0, ge=0, le=1)
    review_pair_cap: int = Field(default=5, ge=0, le=ORDINALS)
    review_reciprocal_min: int = Field(default=3, ge=0, le=ORDINALS)
    review_reciprocal_fraction: float = Field(default=0.5, ge=0, le=1)
    # tickets
    ticket_self_quick_minutes: int = Field(default=30, ge=0, le=MINUTES[-1])
    ticket_self_quick_fraction: float = Field(default=0.1, ge=0, le=1)
    ticket_unlinked_fraction: float = Field(default=0.5, ge=0, le=1)
    # deploys
    deploy_environments: list[str] = Field(default_factory=lambda: list(DEFAULT_PRODUCTION),
                                           max_length=50)
    deploy_nonprod_fraction: float = Field(default=0.0, ge=0, le=1)
    deploy_redeploy_fraction: float = Field(default=0.0, ge=0, le=1)
    # incidents
    incident_self_fraction: float = Field(default=0.1, ge=0, le=1)
    incident_quick_minutes: int = Field(default=5, ge=0, le=MINUTES[-1])
    incident_quick_fraction: float = Field(default=0.25, ge=0, le=1)
    incident_low_urgency_fraction: float = Field(default=0.5, ge=0, le=1)
    # counterweights: the share of a merged pull request's credit taken back
    counterweight_failed_deploy: float = Field(default=0.5, ge=0, le=1)
    counterweight_incident: float = Field(default=0.5, ge=0, le=1)

    @field_validator("pr_small_lines", "review_tiny_lines")
    @classmethod
    def _lines(cls, value: int) -> int:
        return _ladder_value(value, LINES, "lines")

    @field_validator("review_quick_minutes", "ticket_self_quick_minutes",
                     "incident_quick_minutes")
    @classmethod
    def _minutes(cls, value: int) -> int:
        return _ladder_value(value, MINUTES, "minutes")

    @field_validator("deploy_environments")
    @classmethod
    def _environments(cls, value: list[str]) -> list[str]:
        names = [env_name(v) for v in value]
        if any(not n for n in names):
            raise ValueError("environment names need a letter or digit")
        return list(dict.fromkeys(names))


RULE_FIELDS: tuple[str, ...] = tuple(OutcomeRulesConfig.model_fields)


def env_name(environment: str) -> str:
    """An environment's name as rules compare it: lower-case letters and digits joined by
    `_`, at most 30 characters ("Production EU" → "production_eu")."""
    return ENV_NAME.sub("_", environment.lower()).strip("_")[:30]


def step(value: float, ladder: tuple[int, ...]) -> int | None:
    """The first ladder index i with value < ladder[i]; None past the ladder's end."""
    for i, top in enumerate(ladder):
        if value < top:
            return i
    return None


def _below(threshold: int, ladder: tuple[int, ...]) -> list[int]:
    """Ladder indexes discounted by "below `threshold`" (0: none)."""
    return [i for i, top in enumerate(ladder) if top <= threshold]


def fractions(rules: OutcomeRulesConfig) -> dict[str, float]:
    """Modifier → fraction, for every modifier the rules scale (absent ones count as 1)."""
    out: dict[str, float] = {"small": rules.pr_small_fraction,
                             "self": rules.pr_self_merge_fraction}
    for i in _below(rules.pr_small_lines, LINES):
        out[f"pl{i}"] = rules.pr_small_fraction
    for i in _below(rules.review_quick_minutes, MINUTES):
        out[f"sq{i}"] = rules.pr_quick_approval_fraction
        out[f"rq{i}"] = rules.review_quick_fraction
    for i in _below(rules.review_tiny_lines, LINES):
        out[f"rt{i}"] = rules.review_tiny_fraction
    if rules.review_pair_cap:
        for n in range(rules.review_pair_cap + 1, ORDINALS + 2):
            out[f"rn{n}"] = 0.0
    if rules.review_reciprocal_min:
        for m in range(rules.review_reciprocal_min, ORDINALS + 2):
            out[f"rr{m}"] = rules.review_reciprocal_fraction
    for i in _below(rules.ticket_self_quick_minutes, MINUTES):
        out[f"ts{i}"] = rules.ticket_self_quick_fraction
    out["tu"] = rules.ticket_unlinked_fraction
    out["dr"] = rules.deploy_redeploy_fraction
    out["env_"] = rules.deploy_nonprod_fraction  # the family default: not production
    for name in rules.deploy_environments:
        out[f"env_{name}"] = 1.0
    out["is"] = rules.incident_self_fraction
    for i in _below(rules.incident_quick_minutes, MINUTES):
        out[f"iq{i}"] = rules.incident_quick_fraction
    out["il"] = rules.incident_low_urgency_fraction
    out["cwd"] = rules.counterweight_failed_deploy
    out["cwi"] = rules.counterweight_incident
    return {k: v for k, v in out.items() if v != 1.0 or k.startswith("env_")}


def fraction_of(modifiers: tuple[str, ...] | list[str], table: dict[str, float]) -> float:
    """What a count with `modifiers` is scaled by (as the store's Lua computes it)."""
    x = 1.0
    for mod in modifiers:
        if mod == "revert":
            continue
        family = mod[:4] if mod.startswith("env_") else None
        x *= table.get(mod, table.get(family, 1.0) if family else 1.0)
    return x


# ---------------------------------------------------------------------------------------
# Modifiers per kind, from what was measured (None: not known, no modifier)


def _at(prefix: str, value: float | None, ladder: tuple[int, ...]) -> list[str]:
    if value is None:
        return []
    i = step(max(value, 0.0), ladder)
    return [] if i is None else [f"{prefix}{i}"]


def merge_modifiers(lines: int | None, self_merged: bool, other_approval_minutes: float | None,
                    approved_by_other: bool) -> tuple[str, ...]:
    """`other_approval_minutes`: the longest delay among other people's approvals (None
    when unknown). A self-merge with no approval by anyone else is `self`; a pull request
    approved by others carries the step of their longest delay (a merge by someone else
    without any approval is not discounted: the one who merged it looked at it)."""
    mods = _at("pl", lines, LINES)
    if approved_by_other:
        mods += _at("sq", other_approval_minutes, MINUTES)
    elif self_merged:
        mods.append("self")
    return tuple(sorted(mods))


def review_modifiers(delay_minutes: float | None, lines: int | None, ordinal: int,
                     reverse: int) -> tuple[str, ...]:
    """`ordinal`: this review's place among the reviewer's reviews of the author this week;
    `reverse`: the author's reviews of the reviewer this week so far."""
    mods = _at("rq", delay_minutes, MINUTES) + _at("rt", lines, LINES)
    if ordinal >= 2:
        mods.append(f"rn{min(ordinal, ORDINALS + 1)}")
    level = min(ordinal, reverse, ORDINALS + 1)
    if level >= 1:
        mods.append(f"rr{level}")
    return tuple(sorted(mods))


def ticket_modifiers(closed_by_opener: bool, open_minutes: float | None,
                     linked: bool) -> tuple[str, ...]:
    mods = _at("ts", open_minutes, MINUTES) if closed_by_opener else []
    if not linked:
        mods.append("tu")
    return tuple(sorted(mods))


def deploy_modifiers(environment: str | None, production: bool,
                     redeploy: bool) -> tuple[str, ...]:
    mods = ["dr"] if redeploy else []
    if not production:
        mods.append("env_" + (env_name(environment or "") or "unnamed"))
    return tuple(sorted(mods))


def incident_modifiers(self_resolved: bool, minutes: float | None,
                       urgency: str | None) -> tuple[str, ...]:
    mods = ["is"] if self_resolved else []
    mods += _at("iq", minutes, MINUTES)
    if (urgency or "").lower() == "low":
        mods.append("il")
    return tuple(sorted(mods))


# ---------------------------------------------------------------------------------------
# What a modifier means, in words (for the person it affects)


def _ladder_words(mod: str, prefix: str) -> int | None:
    rest = mod[len(prefix):]
    return int(rest) if mod.startswith(prefix) and rest.isdigit() else None


def reason(mod: str, rules: OutcomeRulesConfig) -> str | None:
    """Why a count carrying `mod` is discounted under `rules`, as a phrase completing
    "N reviews …", or None when `mod` discounts nothing now."""
    table = fractions(rules)
    if fraction_of((mod,), table) >= 1.0:
        return None
    if mod == "small" or mod.startswith("pl"):
        return f"with fewer than {rules.pr_small_lines} changed lines"
    if mod == "self":
        return "merged by you without an approval from someone else"
    if mod.startswith("sq"):
        return (f"approved only within {rules.review_quick_minutes} minutes of the last push "
                "(not counted as reviewed)")
    if mod.startswith("rq"):
        return (f"given within {rules.review_quick_minutes} minutes of the pull request's "
                "opening or last push")
    if mod.startswith("rt"):
        return f"of pull requests with fewer than {rules.review_tiny_lines} changed lines"
    if mod.startswith("rn"):
        return f"beyond {rules.review_pair_cap} a week of one author's pull requests"
    if mod.startswith("rr"):
        return (f"traded with someone who reviewed you {rules.review_reciprocal_min} or more "
                "times that week")
    if mod.startswith("ts"):
        return f"opened by you and closed within {rules.ticket_self_quick_minutes} minutes"
    if mod == "tu":
        return "closed with no merged pull request that closes them"
    if mod == "dr":
        return "of a commit already deployed to that environment"
    if mod.startswith("env_"):
        return f"to {mod[4:]}, not a production environment"
    if mod == "is":
        return "resolved by whoever triggered them"
    if mod.startswith("iq"):
        return f"resolved within {rules.incident_quick_minutes} minutes"
    if mod == "il":
        return "of low urgency"
    if mod == "cwd":
        return "whose commit then failed to deploy"
    if mod == "cwi":
        return "named by an incident"
    return None


def ladder_choices(name: str) -> tuple[int, ...]:
    """The values a threshold setting may take (0 = off)."""
    if name.endswith("_lines"):
        return (0, *LINES)
    if name.endswith("_minutes"):
        return (0, *MINUTES)
    return tuple(range(ORDINALS + 1))


def rings(pairs: dict[tuple[str, str], int], minimum: int) -> list[dict[str, Any]]:
    """Pairs who reviewed each other at least `minimum` times each way in a week, largest
    first: [{"a", "b", "ab", "ba"}]. `pairs` is (reviewer, author) → reviews."""
    if minimum <= 0:
        minimum = 3
    found = []
    for (a, b), ab in pairs.items():
        ba = pairs.get((b, a), 0)
        if a < b and min(ab, ba) >= minimum:
            found.append({"a": a, "b": b, "ab": ab, "ba": ba})
    return sorted(found, key=lambda r: (-(r["ab"] + r["ba"]), r["a"], r["b"]))
