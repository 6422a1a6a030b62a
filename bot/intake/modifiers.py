"""Facts → outcomes with the modifiers of `bot.core.outcome_rules`, reading and writing what
must be remembered between deliveries (`bot.store.outcome_ledger`, `bot.store.pull_requests`).

Each function takes one fact and answers the (outcome, identity) pairs it counts, or
remembers it and answers nothing. The modifiers record what was measured (a review's
delay step, a pull request's size step, a pair's ordinal), so the configuration can
change what they are worth later and rescoring re-ranks the past.
"""

from __future__ import annotations

from datetime import datetime

from bot.core.config import BoardConfig
from bot.core.counts import Outcome
from bot.core.outcome_rules import (
    deploy_modifiers,
    incident_modifiers,
    merge_modifiers,
    review_modifiers,
    ticket_modifiers,
)
from bot.sources.webhook_facts import (
    APPROVAL,
    DEPLOY_FAILED,
    INCIDENT_NOTE,
    INCIDENT_TRIGGERED,
    PR_PUSHED,
    Fact,
)
from bot.store.outcome_ledger import OutcomeLedger, iso_week
from bot.store.pull_requests import PullRequests

Pair = tuple[Outcome, str]
REMEMBERED = (APPROVAL, PR_PUSHED, INCIDENT_TRIGGERED, INCIDENT_NOTE, DEPLOY_FAILED)


def _pr_key(fact: Fact) -> str:
    """`<source>:<repo>#<number>` of the pull request a fact is about ('' if none)."""
    if not fact.repo or fact.number is None:
        return ""
    return f"{fact.object_id.split(':', 1)[0]}:{fact.repo}#{fact.number}"


def _minutes(start: float | None, end: datetime) -> float | None:
    return None if start is None else (end.timestamp() - start) / 60


class Intake:
    def __init__(self, config: BoardConfig, prs: PullRequests, ledger: OutcomeLedger) -> None:
        self.config = config
        self.prs = prs
        self.ledger = ledger

    def _since_push(self, fact: Fact) -> tuple[float | None, int | None]:
        """(minutes since the PR was opened or last pushed, its changed lines), as far as
        known."""
        pushed, lines = self.ledger.pr_info(_pr_key(fact)) if _pr_key(fact) else (None, None)
        opened = fact.opened_at.timestamp() if fact.opened_at else None
        starts = [t for t in (pushed, opened) if t is not None and t <= fact.ts.timestamp()]
        delay = _minutes(max(starts), fact.ts) if starts else None
        return delay, fact.changed_lines if fact.changed_lines is not None else lines

    # -- facts that are only remembered --------------------------------------------------
    def remember(self, fact: Fact) -> list[Pair]:
        """Remember a non-outcome fact; what it takes back (failed deploys, incidents
        naming a pull request) is answered."""
        if fact.kind == APPROVAL:
            delay, _ = self._since_push(fact)
            self.ledger.approve(fact.object_id, fact.actor, delay)
            return []
        if fact.kind == PR_PUSHED:
            if _pr_key(fact):
                self.ledger.pushed(_pr_key(fact), fact.ts, fact.changed_lines)
            return []
        if fact.kind == INCIDENT_TRIGGERED:
            self.ledger.triggered(fact.object_id, fact.actor, fact.opened_at or fact.ts)
        if fact.kind in (INCIDENT_TRIGGERED, INCIDENT_NOTE):
            return self.named_by_incident(fact)
        if fact.kind == DEPLOY_FAILED and fact.repo and fact.sha:
            pr = self.ledger.merged_by_commit(fact.repo, fact.sha)
            if pr is not None:
                return self._take_back(pr, "cwd", f"failed:{pr[0]}#{pr[1]}", fact)
        return []

    def _take_back(self, pr: tuple[str, int], why: str, object_id: str,
                   fact: Fact) -> list[Pair]:
        original = self.prs.merged(*pr)
        if original is None:
            return []
        author, modifiers = original
        mods = tuple(sorted({*modifiers, "revert", why}))
        return [(Outcome(id=object_id, ts=fact.ts, kind="pr_merged", modifiers=mods,
                         ref=fact.ref, fingerprint=object_id), author)]

    def named_by_incident(self, fact: Fact) -> list[Pair]:
        out: list[Pair] = []
        for repo, number in fact.names:
            out += self._take_back((repo, number), "cwi",
                                   f"{fact.object_id}:names:{repo}#{number}", fact)
        return out

    # -- outcomes ------------------------------------------------------------------------
    def review(self, fact: Fact, object_id: str) -> tuple[str, ...]:
        delay, lines = self._since_push(fact)
        ordinal, reverse = 1, 0
        if fact.author:
            ordinal, reverse = self.ledger.pair_review(iso_week(fact.ts), object_id,
                                                       fact.actor, fact.author)
        return review_modifiers(delay, lines, ordinal, reverse)

    def merge(self, fact: Fact) -> tuple[tuple[str, ...], str]:
        author = fact.author or fact.actor
        others = {r: d for r, d in self.ledger.approvals(fact.object_id).items()
                  if r != author}
        approved = bool(others) or self.prs.approved_by_other(fact.object_id, author)
        delays = list(others.values())
        longest = (max(delays) if delays and all(d is not None for d in delays)  # type: ignore[type-var]
                   else None)
        mods = merge_modifiers(fact.changed_lines, fact.merged_by == author, longest, approved)
        if fact.repo and fact.number is not None:
            self.prs.remember_merge(fact.repo, fact.number, author, mods)
            if fact.sha:
                self.ledger.remember_merge_commit(fact.repo, fact.sha, fact.number)
        self.ledger.remember_closes(fact.closes)
        return mods, author

    def ticket(self, fact: Fact) -> tuple[str, ...]:
        linked = bool(fact.repo and fact.number is not None
                      and self.ledger.closed_by_change(fact.repo, fact.number))
        return ticket_modifiers(fact.opener is not None and fact.opener == fact.actor,
                                _minutes(fact.opened_at.timestamp(), fact.ts)
                                if fact.opened_at else None, linked)

    def deploy(self, fact: Fact) -> tuple[str, ...]:
        redeploy = bool(fact.repo and fact.sha and not self.ledger.first_deploy(
            fact.repo, fact.sha, fact.environment or "", fact.object_id))
        return deploy_modifiers(fact.environment, fact.production is True, redeploy)

    def incident(self, fact: Fact) -> tuple[str, ...]:
        by, at = self.ledger.trigger(fact.object_id)
        start = fact.opened_at.timestamp() if fact.opened_at else at
        return incident_modifiers(by == fact.actor, _minutes(start, fact.ts), fact.urgency)
