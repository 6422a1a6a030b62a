"""`tokenboard migrate` and the start-up of `tokenboard worker` on Redis holding the older
storage layout, run as real subprocesses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.core.config import BoardConfig
from bot.store.layout import LAYOUT_VERSION
from bot.store.store import Store
from tests.support.layout1 import assert_everything_as_counted, fill, layout1_keys
from tests.test_cli import ROOT, run

pytestmark = pytest.mark.slow


def env(redis_url: str, **more: str) -> dict[str, str]:
    return {"REDIS_URL": redis_url, "TOKENBOARD_TIMEZONE": "UTC", **more}


def test_migrate_dry_run_then_migrate_then_nothing_to_do(tmp_path: Path, redis_client,
                                                         redis_url: str) -> None:
    store = Store(redis_client)
    old = fill(store, BoardConfig())
    keys = layout1_keys(store)

    dry = run(["migrate", "--dry-run"], env(redis_url), tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert f"would move {len(old.day)} person-days and {len(old.events)} event ids" in dry.stdout
    assert "dry run: nothing changed" in dry.stdout
    assert layout1_keys(store) == keys and store.layout.version() is None

    done = run(["migrate"], env(redis_url), tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"migrated {len(old.day)} person-days" in done.stdout
    assert f"and {len(old.events)} event ids" in done.stdout
    assert "[#" not in done.stderr  # no progress bar when stderr is not a terminal
    assert layout1_keys(store) == [] and store.layout.version() == LAYOUT_VERSION
    assert_everything_as_counted(store, old)

    again = run(["migrate", "--workspace", "default"], env(redis_url), tmp_path)
    assert again.returncode == 0 and "nothing to migrate" in again.stdout
    assert_everything_as_counted(store, old)


def test_a_fresh_install_has_nothing_to_migrate(tmp_path: Path, redis_client,
                                                redis_url: str) -> None:
    done = run(["migrate"], env(redis_url), tmp_path)
    assert done.returncode == 0 and "nothing to migrate" in done.stdout
    assert Store(redis_client).layout.version() == LAYOUT_VERSION


def test_worker_refuses_an_older_layout_when_told_not_to_migrate(tmp_path: Path, redis_client,
                                                                 redis_url: str) -> None:
    store = Store(redis_client)
    fill(store, BoardConfig())
    done = run(["worker"], env(redis_url, MIGRATE_ON_START="off"), tmp_path)
    assert done.returncode == 2
    assert "older storage layout" in done.stderr and "tokenboard migrate" in done.stderr
    assert "Traceback" not in done.stderr
    assert layout1_keys(store) and store.layout.version() is None


def test_worker_migrates_on_start(tmp_path: Path, redis_client, redis_url: str) -> None:
    store = Store(redis_client)
    old = fill(store, BoardConfig())
    base = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)}
    worker = subprocess.Popen([sys.executable, "-m", "bot", "worker"],
                              env={**base, **env(redis_url)}, cwd=tmp_path,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while store.layout.version() != LAYOUT_VERSION and time.monotonic() < deadline:
            assert worker.poll() is None, worker.stdout.read() if worker.stdout else ""
            time.sleep(0.1)
        assert store.layout.version() == LAYOUT_VERSION
    finally:
        worker.send_signal(signal.SIGTERM)
        out, _ = worker.communicate(timeout=30)
    assert worker.returncode == 0, out
    assert "storage migrated" in out and f"{len(old.day)} person-days" in out
    assert layout1_keys(store) == []
    assert_everything_as_counted(store, old)
