"""bot.cli.access: token and identity commands, run in this process (`main`) against the
session Redis."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
import redis

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


def test_personal_tokens_are_made_listed_and_revoked(
        settings: Settings, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """(`redis_client`: the session Redis, flushed.)"""
    url = settings.redis_url
    code, out, _ = cli(["tokens", "create", "ana-laptop", "--user", "U0ANA"], url,
                       monkeypatch, capsys)
    token = out.splitlines()[-1]
    assert code == 0 and token.startswith("tb.")
    assert "Token for 'ana-laptop' of U0ANA" in out
    assert "name nobody count for U0ANA; it cannot report for anyone else" in out
    code, out, _ = cli(["tokens", "create", "ci"], url, monkeypatch, capsys)
    assert code == 0 and "U0ANA" not in out
    code, out, _ = cli(["tokens", "create", "ana-desktop", "--user", "U0ANA"], url,
                       monkeypatch, capsys)
    assert code == 0 and "It replaces U0ANA's earlier token 'ana-laptop', revoked now." in out

    code, out, _ = cli(["tokens", "list"], url, monkeypatch, capsys)
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert code == 0 and out.splitlines()[0].split()[:3] == ["NAME", "WHOSE", "FROM"]
    assert (rows["ana-desktop"][1], rows["ana-desktop"][-1]) == ("U0ANA", "active")
    assert (rows["ana-laptop"][1], rows["ana-laptop"][-1]) == ("U0ANA", "revoked")
    assert (rows["ci"][1], rows["ci"][-1]) == ("shared", "active")

    code, out, _ = cli(["tokens", "revoke", "ana-desktop"], url, monkeypatch, capsys)
    assert code == 0 and "Revoked 'ana-desktop'" in out
    code, out, _ = cli(["tokens", "list"], url, monkeypatch, capsys)
    assert [line.split()[-1] for line in out.splitlines()
            if line.startswith("ana-desktop ")] == ["revoked"]


def test_a_personal_tokens_user_must_be_a_slack_user_id(
        settings: Settings, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(["tokens", "create", "x", "--user", "ana@example.com"],
                         settings.redis_url, monkeypatch, capsys)
    assert code == 1 and out == ""
    assert "'ana@example.com' is not a Slack user id like U012AB3CD (or W012AB3CD)" in err
