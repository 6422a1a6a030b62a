"""A simulated org of webhook outcomes: people who split work into tiny pull requests,
merge their own unreviewed changes, or revert and re-merge do not reach the outcome top
10 with the default rules, while steady reviewed work does; with the rules turned off,
the gamers would."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from bot.core.config import BoardConfig
from bot.core.periods import ALL
from bot.intake.outcomes import count_facts
from bot.sources.webhook_facts import Fact
from tests.conftest import App

pytestmark = pytest.mark.slow  # starts the app's HTTP server

DAYS = 14
STEADY = [f"steady{i}" for i in range(12)]
GAMERS = {"splitter": 3, "selfmerger": 3, "reverter": 3}


def org_facts(seed: int = 7) -> list[list[Fact]]:
    """Deliveries (lists of facts), in time order."""
    rng = random.Random(seed)
    start = datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0) - \
        timedelta(days=DAYS)
    deliveries: list[list[Fact]] = []
    ids = iter(range(1, 10**9))

    def merge(author: str, when: datetime, lines: int, merged_by: str,
              approver: str | None, reverts: int | None = None) -> int:
        number = next(ids)
        pr = f"github:pr:{number}"
        if approver:
            deliveries.append([Fact("review", f"github:{approver}", None, when, f"r{number}",
                                    None, "acme/api", number, f"github:{author}"),
                               Fact("approval", f"github:{approver}", None, when, pr, None,
                                    "acme/api", number, f"github:{author}")])
        deliveries.append([Fact("pr_merged", f"github:{author}", None,
                                when + timedelta(minutes=5), pr, None, "acme/api", number,
                                f"github:{author}", f"github:{merged_by}", lines,
                                ("acme/api", reverts) if reverts else None)])
        return number

    for day in range(DAYS):
        base = start + timedelta(days=day)
        for person in STEADY:  # 1-2 reviewed pull requests of real size a day
            for _ in range(rng.randint(1, 2)):
                reviewer = rng.choice([p for p in STEADY if p != person])
                merge(person, base + timedelta(minutes=rng.randrange(480)),
                      rng.randint(30, 400), reviewer, reviewer)
        for i in range(GAMERS["splitter"]):  # one day's work as 6-9 tiny merges
            for _ in range(rng.randint(6, 9)):
                reviewer = rng.choice(STEADY)
                merge(f"splitter{i}", base + timedelta(minutes=rng.randrange(480)),
                      rng.randint(1, 9), reviewer, reviewer)
        for i in range(GAMERS["selfmerger"]):  # 2-3 unreviewed merges of their own
            for _ in range(rng.randint(2, 3)):
                merge(f"selfmerger{i}", base + timedelta(minutes=rng.randrange(480)),
                      rng.randint(30, 400), f"selfmerger{i}", None)
        for i in range(GAMERS["reverter"]):  # merge, revert, merge again
            who, partner = f"reverter{i}", rng.choice(STEADY)
            first = merge(who, base + timedelta(minutes=60), 120, partner, partner)
            merge(who, base + timedelta(minutes=120), 3, who, None, reverts=first)
            merge(who, base + timedelta(minutes=180), 120, partner, partner)
    return deliveries


def outcome_top(app: App, config: BoardConfig) -> list[str]:
    app.deps.store.configs.save(config, by="test")
    people = STEADY + [f"{kind}{i}" for kind, n in GAMERS.items() for i in range(n)]
    for n, person in enumerate(people):
        app.deps.identities.link(f"U0P{n:03d}", f"github:{person}")
    slack = {f"U0P{n:03d}": person for n, person in enumerate(people)}
    prs = app.deps.store.pull_requests
    for facts in org_facts():
        count_facts(app.deps.store, app.deps.identities, prs, facts, "github")
    key = app.deps.store.keys.board("points", ALL)
    ranked = app.deps.store.r.zrevrange(key, 0, 9)
    return [slack[m.decode()] for m in ranked]


def test_gaming_does_not_reach_the_outcome_top_10(app: App) -> None:
    top = outcome_top(app, BoardConfig())
    assert all(p.startswith("steady") for p in top), top


def test_without_the_rules_the_splitters_would(app: App) -> None:
    rules_off = BoardConfig(pr_small_fraction=1.0, pr_self_merge_fraction=1.0)
    top = outcome_top(app, rules_off)
    assert any(p.startswith("splitter") for p in top[:3]), top
