"""`tokenboard ARGS` run in the test's process (bot.cli.main.main), its exit code and output."""

from __future__ import annotations

import pytest

from bot.cli.main import main


def cli(args: list[str], url: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """`tokenboard ARGS` in this process, against `url`."""
    monkeypatch.setenv("REDIS_URL", url)
    capsys.readouterr()
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err
