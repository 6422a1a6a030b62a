"""bot.cli.access: token and identity commands, run in this process (`main`) against the
session Redis."""

from __future__ import annotations

import pytest

from bot.core.settings import Settings
from tests.support.cli_in_process import cli


def test_a_workspace_option_must_be_a_workspace_name(
        settings: Settings, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(["tokens", "create", "x", "--workspace", "T1}{x"], settings.redis_url,
                       monkeypatch, capsys)
    assert code == 2 and "--workspace" in err and "T1}{x" in err

