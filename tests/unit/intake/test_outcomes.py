"""bot.intake.outcomes: webhook facts → outcomes (whose, which id, which modifiers), what
is left out and why, reverts taking a merge back from its author, and counting a
delivery once (real Redis; identities linked here, Slack never asked).

The modifiers checked are the ones the README's rules give without any ladder step: a
pull request merged by its author with no other approval is "self"; one merged by
someone else without approval carries nothing; a revert adds "revert" to what the merge
was credited with.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.core.config import DEFAULT_OUTCOMES, BoardConfig
from bot.core.counts import Outcome
from bot.core.periods import ALL
from bot.intake.identities import Identities
from bot.intake.outcomes import count_facts, outcomes_for
from bot.sources.webhook_facts import Fact
from bot.store.outcome_ledger import OutcomeLedger
from bot.store.pull_requests import PullRequests
from bot.store.store import Store
from bot.web.webhook_routes import webhook_json

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
REPO = "acme/api"


@pytest.fixture
def prs(store: Store) -> PullRequests:
    return store.pull_requests


def merge(number: int, author: str = "github:ana", merged_by: str | None = None,
          **more: object) -> Fact:
    merger = merged_by or author
    return Fact(kind="pr_merged", actor=merger, actor_email=None, ts=NOW,
                object_id=f"github:pr:{number}", ref=None, repo=REPO, number=number,
                author=author, merged_by=merger, **more)  # type: ignore[arg-type]


def review(number: int, reviewer: str, object_id: str) -> Fact:
    return Fact(kind="review", actor=reviewer, actor_email=None, ts=NOW, object_id=object_id,
                ref=None, repo=REPO, number=number, author="github:ana")


def outcomes(facts: list[Fact], prs: PullRequests, config: BoardConfig | None = None
             ) -> tuple[list[tuple[Outcome, str]], list[str]]:
    return outcomes_for(facts, config or BoardConfig(), prs, NOW, 400,
                        OutcomeLedger(prs.r, prs.keys, 400))


def test_a_merge_counts_for_its_author_and_is_remembered(prs: PullRequests) -> None:
    [(outcome, who)], ignored = outcomes([merge(7, merged_by="github:bo")], prs)
    assert ignored == [] and who == "github:ana"  # the author, not who pressed merge
    assert (outcome.id, outcome.kind, outcome.ts, outcome.modifiers) == (
        "github:pr:7", "pr_merged", NOW, ())
    assert prs.merged(REPO, 7) == ("github:ana", ())


def test_a_self_merge_without_approval_is_marked_self(prs: PullRequests) -> None:
    [(outcome, who)], _ = outcomes([merge(8)], prs)
    assert (outcome.modifiers, who) == (("self",), "github:ana")


def test_a_revert_takes_the_merge_back_from_its_author(prs: PullRequests) -> None:
    outcomes([merge(8)], prs)
    revert = merge(9, author="github:cy", reverts=(REPO, 8))
    [(outcome, who)], ignored = outcomes([revert], prs)
    assert ignored == [] and who == "github:ana"
    assert (outcome.id, outcome.kind, outcome.modifiers, outcome.fingerprint) == (
        "github:pr:9:revert", "pr_merged", ("revert", "self"), f"revert:{REPO}#8")


def test_what_is_left_out_says_why(prs: PullRequests) -> None:
    old = replace(merge(1), ts=NOW - timedelta(days=401))
    ahead = replace(merge(2), ts=NOW + timedelta(minutes=11))
    only_merges = BoardConfig(outcomes={"pr_merged": DEFAULT_OUTCOMES["pr_merged"]})
    pairs, ignored = outcomes([old, ahead, merge(3, author="github:cy", reverts=(REPO, 99)),
                               review(3, "github:bo", "github:review:1")], prs, only_merges)
    assert pairs == []
    assert ignored == [
        f"pr_merged of {(NOW - timedelta(days=401)).date().isoformat()}: older than the "
        "400-day retention window",
        f"pr_merged at {(NOW + timedelta(minutes=11)).isoformat()}: in the future",
        f"revert of {REPO}#99: that merge was never counted",
        "review: not a configured outcome kind"]


def test_replies_in_one_review_are_one_review_per_reviewer(prs: PullRequests) -> None:
    pairs, _ = outcomes([review(7, "github:bo", "github:review:1"),
                         review(7, "github:bo", "github:review:2"),
                         review(7, "github:cy", "github:review:3")], prs)
    assert [(o.id, who) for o, who in pairs] == [
        (f"review:{REPO}#7:github:bo", "github:bo"),
        (f"review:{REPO}#7:github:bo", "github:bo"),
        (f"review:{REPO}#7:github:cy", "github:cy")]


def test_a_delivery_counts_once_for_whom_its_identities_are(
        store: Store, identities: Identities, prs: PullRequests) -> None:
    identities.link("U0ANA", "github:ana")
    facts = [merge(7, merged_by="github:bo"), review(7, "github:bo", "github:review:1"),
             review(7, "github:bo", "github:review:2")]
    counted = count_facts(store, identities, prs, facts, "github", now=NOW)
    assert webhook_json(counted) == {"counted": 2, "duplicates": 1, "unmapped": ["github:bo"]}
    assert store.reads.day_counts(NOW.date(), "U0ANA") == {"o:pr_merged": 1.0}
    again = count_facts(store, identities, prs, facts, "github", now=NOW)  # a redelivery
    assert webhook_json(again) == {"counted": 0, "duplicates": 3}
    assert store.reads.day_counts(NOW.date(), "U0ANA") == {"o:pr_merged": 1.0}
    # 5·√1 points for one merge (weight 5, square root)
    assert {p.user: p.points for p in store.reads.period_totals(ALL)}["U0ANA"] == pytest.approx(5.0)
