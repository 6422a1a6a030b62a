"""`tokenboard migrate` and the start-up of `tokenboard worker` on Redis holding the older
storage layout, run as real subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.core.config import BoardConfig
from bot.core.periods import buckets_for_day
from bot.sources.reports import UsageReport, report_fingerprint
from bot.store.embedded import free_port
from bot.store.layout import LAYOUT_VERSION
from bot.store.store import Store
from tests.conftest import BOT_TOKEN, SIGNING_SECRET, http
from tests.slack_stub import SlackStub
from tests.support.cli_runs import run
from tests.support.layout1 import P, assert_everything_as_counted, fill, layout1_keys
from tests.support.paths import ROOT
from tests.support.serve_process import ServeProcess

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


def test_serve_migrates_on_start_and_a_retried_old_report_is_a_duplicate(
        tmp_path: Path, redis_client, redis_url: str, stub: SlackStub) -> None:
    """A report counted by the older version (its id in `seen:<sender>:<date>`, its counts
    in `day:<date>:<user>` and the boards, as the older /ingest wrote them) and sent again
    after the upgrade: serve migrates at start, then answers it as a duplicate."""
    store = Store(redis_client)
    old = fill(store, BoardConfig())
    day = datetime.now(UTC).date() - timedelta(days=1)
    wire = {"id": "run-8812", "type": "usage", "user": "U0A",
            "ts": f"{day.isoformat()}T09:30:00Z", "tool": "meshclaw", "tokens": 1200}
    report = UsageReport.model_validate(wire)
    # the older /ingest: HSETNX seen:<sender>:<date> id → report_fingerprint, HINCRBY the
    # day hash, ZINCRBY the boards (fill() wrote the rest of that day the same way)
    store.r.hsetnx(f"{P}:seen:ci-sender:{day.isoformat()}", "run-8812",
                   report_fingerprint(report))
    store.r.expire(f"{P}:seen:ci-sender:{day.isoformat()}", 400 * 86400)
    store.r.hincrby(f"{P}:day:{day.isoformat()}:U0A", "tokens", 1200)
    store.r.hincrby(f"{P}:day:{day.isoformat()}:U0A", "requests", 1)
    old.day[(day, "U0A")]["tokens"] += 1200
    old.day[(day, "U0A")]["requests"] += 1
    for b in buckets_for_day(day):
        for metric, x in (("tokens", 1200), ("requests", 1)):
            store.r.zincrby(f"{P}:z:{metric}:{b.scope}:{b.name}", x, "U0A")
            old.boards[f"{P}:z:{metric}:{b.scope}:{b.name}"]["U0A"] += x
    port = free_port()
    serve = ServeProcess({
        "PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "HOME": str(tmp_path),
        "REDIS_URL": redis_url, "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": stub.url,
        "INGEST_TOKENS": "ci-sender:secret-ci", "PORT": str(port), "WEB_CONCURRENCY": "1",
        "TOKENBOARD_DATA_DIR": str(tmp_path / "data"), "TOKENBOARD_TIMEZONE": "UTC",
        "SERVE_JOBS": "off", "DIGEST_CHANNEL": ""}, port, tmp_path)
    try:
        serve.start(timeout=60)
        assert store.layout.version() == LAYOUT_VERSION and layout1_keys(store) == []
        answer = http("POST", serve.url + "/ingest", json.dumps({"events": [wire]}),
                      {"Authorization": "Bearer secret-ci",
                       "Content-Type": "application/json"})
        assert answer.status == 200, answer.body
        assert answer.json() == {"accepted": 0, "duplicates": 1, "rejected": []}
    finally:
        serve.stop()
    assert "storage migrated" in serve.log_path.read_text()
    assert_everything_as_counted(store, old)
