"""Moving an install's data from the older layout (one hash per person-day and per
sender-day of event ids) into the current one: every day and board exactly as counted,
old event ids still duplicates, a migration stopped half-way and run again counts nothing
twice, a second migration does nothing, a fresh install is stamped. The older layout is
written as its scripts wrote it (tests/support/layout1.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.core.config import BoardConfig
from bot.core.counts import Usage
from bot.core.periods import buckets_for_day
from bot.store.counting import DUPLICATE
from bot.store.layout import LAYOUT_VERSION
from bot.store.store import Store
from tests.support.layout1 import (
    DAYS,
    IDENTITY,
    P,
    assert_everything_as_counted,
    fill,
    layout1_keys,
)


def test_the_older_layout_migrates_with_every_count_and_id(store: Store) -> None:
    config = BoardConfig()
    old = fill(store, config)
    assert layout1_keys(store) and store.layout.state() == "older"
    dry = store.layout.count()
    assert dry.person_days == len(old.day)
    assert dry.sender_days == len({(s, e.ts.date()) for e, _, s in old.events})
    assert dry.ids == len(old.events)
    ttl_before = store.r.ttl(f"{P}:day:{DAYS[3].isoformat()}:U0A")

    done = store.layout.migrate()
    assert done.finished and done.person_days == len(old.day)
    assert done.ids == len(old.events)
    assert layout1_keys(store) == [] and store.layout.version() == LAYOUT_VERSION
    assert store.layout.state() == "current"
    assert_everything_as_counted(store, old)
    # the days keep their expiry
    bucket_ttls = [store.r.ttl(k) for k in store.dump_keys()
                   if k.startswith(f"{P}:days:{DAYS[3].isoformat()}")]
    assert bucket_ttls and all(abs(t - ttl_before) < 5 for t in bucket_ttls)

    # every event counted before the upgrade, retried now, is a duplicate
    for event, who, sender in old.events:
        assert store.counting.record([(event, who)], config, 0, sender) == [DUPLICATE], event

    # a rescore after the migration (every retained day rebuilt from the day counts)
    # gives the same boards
    version = store.configs.save(config)
    store.rescoring.rebuild_points(config, version=version)
    assert_everything_as_counted(store, old)

    # migrating again does nothing
    again = store.layout.migrate()
    assert again.finished and again.units == 0 and again.ids == 0
    assert_everything_as_counted(store, old)

    # the unmapped identity's kept days (the same keys in both layouts) credit as before
    tokens_before = store.r.zscore(f"{P}:z:tokens:a:all", "U0A")
    for day in DAYS:
        assert store.counting.credit_day(IDENTITY, "U0A", day, config, version) == 1
    assert store.r.zscore(f"{P}:z:tokens:a:all", "U0A") == tokens_before + 700 * len(DAYS)


def test_counts_made_after_the_upgrade_are_added_to_the_old_days(store: Store) -> None:
    config = BoardConfig()
    old = fill(store, config)
    day, who = DAYS[0], "U0A"
    ts = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=15)
    new = Usage(id="after-upgrade", ts=ts, fields=(("tokens", 5), ("cost", 0.5),
                                                   ("sessions", 1)))
    assert store.counting.record([(new, who)], config, 0, "laptops") == [1]
    store.layout.migrate()
    extra: dict = {(day, who): {"tokens": 5, "cost": 0.5, "sessions": 1}}
    for b in buckets_for_day(day):
        extra[f"{P}:z:tokens:{b.scope}:{b.name}"] = {who: 5}
    extra[f"{P}:z:cost:a:all"] = {who: 0.5}  # cost per day, week, month: only as the raw metric
    assert_everything_as_counted(store, old, extra)


def test_a_migration_stopped_half_way_finishes_on_the_next_run(store: Store) -> None:
    config = BoardConfig()
    old = fill(store, config)
    first = store.layout.migrate(stop_after=3)
    assert not first.finished and store.layout.state() == "older"
    assert first.units == 3
    second = store.layout.migrate(stop_after=7)
    assert not second.finished
    rest = store.layout.migrate()
    assert rest.finished and layout1_keys(store) == []
    assert first.person_days + second.person_days + rest.person_days == len(old.day)
    assert not store.r.exists(f"{P}:migrate") and not store.r.exists(f"{P}:migrate:lock")
    assert_everything_as_counted(store, old)
    for event, who, sender in old.events:
        assert store.counting.record([(event, who)], config, 0, sender) == [DUPLICATE]


def test_one_key_per_id_of_the_first_versions_stays_a_duplicate(store: Store) -> None:
    config = BoardConfig()
    ts = datetime.now(UTC) - timedelta(minutes=5)
    event = Usage(id="very-old", ts=ts, fields=(("tokens", 9),), fingerprint="abcdef012345")
    # SET seen:<sender>:<id> fingerprint NX EX retention + 1 day, at the time it was counted
    store.r.set(f"{P}:seen:laptops:very-old", "abcdef012345", nx=True, ex=401 * 86400)
    assert store.layout.state() == "older"
    done = store.layout.migrate()
    assert done.finished and done.id_keys == 1 and layout1_keys(store) == []
    assert store.counting.record([(event, "U0A")], config, 0, "laptops") == [DUPLICATE]


def test_a_fresh_install_is_stamped_and_has_nothing_to_migrate(store: Store) -> None:
    assert store.layout.version() is None
    assert store.layout.settle() == "fresh"
    assert store.layout.version() == LAYOUT_VERSION
    assert store.layout.state() == "current"
    assert store.layout.count().units == 0


def test_the_older_layouts_rescoring_lock_goes(store: Store) -> None:
    store.r.set(f"{P}:rebuild", "a-token", ex=300)  # layout 1: SET NX EX, a string
    fill(store, BoardConfig())
    assert store.layout.migrate().finished
    assert not store.r.exists(f"{P}:rebuild")


def test_keys_that_only_look_like_the_older_layout_are_left_and_named(store: Store) -> None:
    fill(store, BoardConfig())
    store.r.set(f"{P}:seen:none", "x")
    store.r.hset(f"{P}:day:someday:U0A", "tokens", 1)
    done = store.layout.migrate()
    assert done.finished and store.layout.state() == "current"
    assert sorted(done.notes) == [f"left as it is (not a person-day): {P}:day:someday:U0A",
                                  f"left as it is (not a sender's ids): {P}:seen:none"]


def test_cost_as_the_raw_metric_rebuilt_from_the_migrated_days_is_the_same(store: Store
                                                                           ) -> None:
    """The older layout kept cost per day, week and month whatever the raw metric; the
    current one builds those sets from the day counts when cost is chosen."""
    config = BoardConfig(raw_metric="cost")
    old = fill(store, config)
    assert store.layout.migrate().finished
    version = store.configs.save(config)
    store.rescoring.sync_raw_sets(config, version)
    assert store.configs.raw_sets() == "cost"
    assert_everything_as_counted(store, old)
