"""bot.cli.access: token and identity commands, run in this process (`main`) against the
session Redis."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from bot.core.settings import Settings
from bot.intake.identities import Identities
from bot.intake.telemetry import count_points
from bot.sources.otlp import Decoded, Point
from bot.store.store import Store
from tests.support.cli_in_process import cli


def test_a_workspace_option_must_be_a_workspace_name(
        settings: Settings, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(["tokens", "create", "x", "--workspace", "T1}{x"], settings.redis_url,
                       monkeypatch, capsys)
    assert code == 2 and "--workspace" in err and "T1}{x" in err



def test_identities_link_takes_a_cursor_id_and_credits_what_was_kept(
        settings: Settings, store: Store, identities: Identities,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    kept = Point(tool="cursor", quantity="tokens", token_type="input", value=1200.0,
                 cumulative=False, start_ns=time.time_ns() - 60 * 10**9,
                 time_ns=time.time_ns(), attributes={"cursor.user.id": "4821"}, model=None,
                 series="cursor-s1", event_id=None)
    counted = count_points(store, identities, Decoded(points=[kept]), "metrics", "cursor")
    assert counted.unmapped == ["cursor:4821"]
    code, out, _ = cli(["identities", "link", "U0CARA", "cursor:4821"], settings.redis_url,
                       monkeypatch, capsys)
    assert code == 0 and "cursor:4821" in out
    day = datetime.fromtimestamp(kept.time_ns / 1e9, UTC).date()
    assert store.reads.day_counts(day, "U0CARA")["tokens"] == 1200
