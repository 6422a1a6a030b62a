"""bot/intake/count.py and bot/core/window.py: the one counting path every source uses,
its policy for a scoring change, and the one counting window. Real Redis."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from bot.core.counts import Outcome, Usage
from bot.core.window import MAX_FUTURE, outside_window
from bot.intake.count import RESCORE_TRIES, Counted, ScoringChanged, count
from bot.runtime.deps import Deps
from bot.store.counting import Counting
from bot.store.store import STALE_CONFIG

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_the_window_of_a_time_and_of_a_calendar_day() -> None:
    assert outside_window(NOW + MAX_FUTURE, NOW, 30) is None
    assert outside_window(NOW + MAX_FUTURE + timedelta(seconds=1), NOW, 30) == "future"
    assert outside_window(NOW - timedelta(days=30), NOW, 30) is None
    assert outside_window(NOW - timedelta(days=30, seconds=1), NOW, 30) == "old"
    # a vendor's day is its own calendar date: tomorrow is fine, the day after is not
    assert outside_window(date(2026, 11, 26), NOW, 30) is None
    assert outside_window(date(2026, 11, 27), NOW, 30) == "future"
    assert outside_window(date(2026, 10, 26), NOW, 30) is None
    assert outside_window(date(2026, 10, 25), NOW, 30) == "old"


def usage(event_id: str, tokens: float = 10) -> Usage:
    return Usage(id=event_id, ts=datetime.now(UTC) - timedelta(minutes=1),
                 fields=(("tokens", tokens),), fingerprint=str(tokens))


def outcome(event_id: str, kind: str = "pr_merged") -> Outcome:
    return Outcome(id=event_id, ts=datetime.now(UTC) - timedelta(minutes=1), kind=kind,
                   fingerprint=event_id)


def test_count_sorts_what_happened_to_each_item(deps: Deps) -> None:
    store = deps.store
    first = count(store, [(0, usage("a"), "U0ANA"), (1, usage("b"), "email:x@example.com")],
                  "s")
    assert (first.counted, first.unmapped) == (2, ["email:x@example.com"])
    again = count(store, [(5, usage("a"), "U0ANA"), (6, usage("b", tokens=11), "U0ANA"),
                          (7, usage("c"), "U0ANA")], "s", into=Counted(counted=1))
    assert (again.counted, again.duplicates, again.conflicts) == (2, [5], [6])


def test_a_scoring_change_meanwhile_rescores_with_the_new_configuration(deps: Deps) -> None:
    store = deps.store
    old = store.configs.load_versioned()
    config = old[0]
    store.configs.save(config.model_copy(update={"outcomes": {
        k: v for k, v in config.outcomes.items() if k != "review"}}))
    # written with the configuration loaded before the change: scored with the new one
    result = count(store, [(0, outcome("m1"), "U0ANA"), (1, outcome("r1", "review"), "U0ANA"),
                           (2, usage("u1"), "U0ANA")], "s", old)
    assert (result.counted, result.removed) == (2, [1])  # review was removed meanwhile


def test_still_stale_after_every_try_is_a_retry_once_the_rest_is_counted(
        deps: Deps, monkeypatch: pytest.MonkeyPatch) -> None:
    store = deps.store
    record = Counting.record
    runs: list[int] = []

    def always_stale_for_b(self: Counting, reports: list, *args: object, **kw: object
                           ) -> list:
        runs.append(len(reports))
        answers = record(self, [r for r in reports if r[0].id != "b"], *args, **kw)
        return [STALE_CONFIG if r[0].id == "b" else answers.pop(0) for r in reports]

    monkeypatch.setattr(Counting, "record", always_stale_for_b)
    with pytest.raises(ScoringChanged):
        count(store, [(0, usage("a"), "U0ANA"), (1, usage("b"), "U0ANA")], "s")
    assert runs == [2] + [1] * (RESCORE_TRIES - 1)
    monkeypatch.setattr(Counting, "record", record)
    assert store.reads.day_counts(usage("a").ts.date(), "U0ANA")["tokens"] == 10  # a counted
