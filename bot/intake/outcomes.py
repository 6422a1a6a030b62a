"""Webhook outcomes in: normalized facts (from `bot.sources.github`, `gitlab`,
`pagerduty`) → outcomes scored so that trivial work does not pay → who → counted once.

- Every outcome carries the modifiers of `bot.core.outcome_rules` (decided in
  `bot.intake.modifiers`): what was measured (a pull request's size, a review's delay, a
  pair's ordinal, a deploy's environment, who triggered an incident), which the
  configuration turns into fractions. The day hash keeps the modified counts apart, so a
  change of fractions or thresholds rescored later re-ranks the past too.
- A merged revert counts nothing itself and takes the reverted pull request's count (with
  the modifiers it was credited with) back from its author, on the day of the revert; a
  failed deploy of a merge commit and an incident naming a pull request take a share of
  it back the same way.
- Every outcome's id is its object (pull request, review, deployment status, issue,
  incident), scoped to the source: an org hook and a repo hook delivering the same merge,
  or a redelivery, count once.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from bot.core.config import BoardConfig
from bot.core.counts import Outcome
from bot.core.window import outside_window
from bot.intake.count import Counted, count
from bot.intake.identities import Identities
from bot.intake.modifiers import REMEMBERED, Intake
from bot.sources.webhook_facts import Fact
from bot.store.outcome_ledger import OutcomeLedger
from bot.store.pull_requests import PullRequests
from bot.store.store import Store

log = logging.getLogger(__name__)


def outcomes_for(facts: list[Fact], config: BoardConfig, prs: PullRequests,
                 now: datetime, retention_days: int, ledger: OutcomeLedger
                 ) -> tuple[list[tuple[Outcome, str]], list[str]]:
    """(outcome, identity) pairs to count, and why any fact was left out."""
    out: list[tuple[Outcome, str]] = []
    ignored: list[str] = []
    intake = Intake(config, prs, ledger)
    for fact in facts:
        outside = outside_window(fact.ts, now, retention_days)
        if outside == "old":
            ignored.append(f"{fact.kind} of {fact.ts:%Y-%m-%d}: older than the "
                           f"{retention_days}-day retention window")
            continue
        if outside == "future":
            ignored.append(f"{fact.kind} at {fact.ts.isoformat()}: in the future")
            continue
        if fact.kind in REMEMBERED:
            out += [p for p in intake.remember(fact) if p[0].kind in config.outcomes]
            continue
        if fact.kind not in config.outcomes:
            ignored.append(f"{fact.kind}: not a configured outcome kind")
            continue
        if fact.kind == "pr_merged" and fact.reverts:
            repo, number = fact.reverts
            original = prs.merged(repo, number)
            if original is None:
                ignored.append(f"revert of {repo}#{number}: that merge was never counted")
                continue
            author, modifiers = original
            out.append((Outcome(id=f"{fact.object_id}:revert", ts=fact.ts, kind=fact.kind,
                                modifiers=tuple(sorted({*modifiers, "revert"})), ref=fact.ref,
                                fingerprint=f"revert:{repo}#{number}"), author))
            continue
        modifiers: tuple[str, ...] = ()
        who = fact.actor
        object_id = fact.object_id
        if fact.kind == "review" and fact.repo and fact.number is not None:
            # one review per reviewer and pull request: replies in a thread do not add up
            object_id = f"review:{fact.repo}#{fact.number}:{fact.actor}"
        if fact.kind == "review":
            modifiers = intake.review(fact, object_id)
        elif fact.kind == "pr_merged":
            modifiers, who = intake.merge(fact)
        elif fact.kind == "ticket_resolved":
            modifiers = intake.ticket(fact)
        elif fact.kind == "deploy":
            modifiers = intake.deploy(fact)
        elif fact.kind == "incident_resolved":
            modifiers = intake.incident(fact)
            out += intake.named_by_incident(fact) if "pr_merged" in config.outcomes else []
        out.append((Outcome(id=object_id, ts=fact.ts, kind=fact.kind, modifiers=modifiers,
                            ref=fact.ref, fingerprint=object_id), who))
    return out, ignored


def count_facts(store: Store, identities: Identities, prs: PullRequests, facts: list[Fact],
                source: str, now: datetime | None = None) -> Counted:
    """Count a delivery's facts; why any fact was left out is `rejected` (no index: one
    fact may give several outcomes, or none). Redis errors and LookupUnavailable
    propagate (503), and so does ScoringChanged (the sender retries; counted outcomes
    are duplicates then)."""
    config, version = store.configs.load_versioned()
    pairs, ignored = outcomes_for(facts, config, prs, now or datetime.now(UTC),
                                  store.retention_days, store.outcome_ledger)
    result = Counted()
    for reason in ignored:
        result.reject(reason)
    resolved = identities.resolve_many([who for _, who in pairs])
    count(store, [(i, outcome, who) for i, ((outcome, _), who) in
                  enumerate(zip(pairs, resolved, strict=True))], source, (config, version),
          into=result)
    if result.removed:
        result.reject("an outcome kind was just removed by an admin")
    return result
