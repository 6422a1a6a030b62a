"""serve's and worker's start-up on the storage layout (bot/runtime/layout.py): a fresh
install is stamped, an older one is migrated, or refused with MIGRATE_ON_START=off, and a
process finding another one migrating waits for it and finishes what it left."""

from __future__ import annotations

import pytest

from bot.core.config import BoardConfig
from bot.core.settings import SettingsError
from bot.runtime.layout import prepare_layout
from bot.store.layout import LAYOUT_VERSION
from bot.store.store import Store
from tests.support.layout1 import P, assert_everything_as_counted, fill, layout1_keys


def test_a_fresh_install_is_stamped(store: Store) -> None:
    prepare_layout(store, migrate=False)
    assert store.layout.version() == LAYOUT_VERSION


def test_an_older_layout_is_refused_when_told_not_to_migrate(store: Store) -> None:
    fill(store, BoardConfig())
    with pytest.raises(SettingsError, match="tokenboard migrate"):
        prepare_layout(store, migrate=False)
    assert layout1_keys(store) and store.layout.version() is None


def test_a_process_waits_for_another_migrating_then_finishes_what_it_left(store: Store
                                                                          ) -> None:
    old = fill(store, BoardConfig())
    store.layout.migrate(stop_after=4)  # another process moved 4 keys, then died...
    store.r.set(f"{P}:migrate:lock", "elsewhere 123", ex=60)  # ...holding the lock
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 3:
            store.r.delete(f"{P}:migrate:lock")  # its lock expires

    prepare_layout(store, migrate=True, sleep=sleep)
    assert len(waits) == 3 and store.layout.version() == LAYOUT_VERSION
    assert layout1_keys(store) == []
    assert_everything_as_counted(store, old)
