"""`tokenboard serve` start-up, run as a real subprocess against the Slack stub: a refused
bot token stops it with one line, Slack being unreachable does not, and the start-up log
carries no misleading warnings."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from bot.store.embedded import free_port
from tests.conftest import BOT_TOKEN, SIGNING_SECRET
from tests.slack_stub import SlackStub
from tests.support.cli_runs import run
from tests.support.paths import ROOT


def serve_env(stub_url: str, redis_url: str, token: str = BOT_TOKEN) -> dict[str, str]:
    return {"SLACK_BOT_TOKEN": token, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": stub_url, "REDIS_URL": redis_url, "PORT": str(free_port())}


def serve_then_stop(env: dict[str, str], cwd: Path) -> tuple[int, list[str]]:
    """Start `tokenboard serve`, send SIGTERM as soon as it says it is listening; its exit
    code and every stderr line."""
    base = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "HOME": str(cwd)}
    proc = subprocess.Popen([sys.executable, "-m", "bot", "serve"], env={**base, **env},
                            cwd=cwd, stderr=subprocess.PIPE, text=True)
    timer = threading.Timer(90, proc.kill)  # never hang the suite
    timer.start()
    lines: list[str] = []
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line.rstrip("\n"))
            if "listening on port" in line:
                proc.send_signal(signal.SIGTERM)
        return proc.wait(), lines
    finally:
        timer.cancel()


@pytest.mark.slow
def test_a_refused_bot_token_stops_serve_with_one_line(tmp_path: Path, stub: SlackStub,
                                                       redis_url: str) -> None:
    # within 20 s (the run times out otherwise), one line, no traceback
    done = run(["serve"], serve_env(stub.url, redis_url, token="xoxb-not-the-stubs"), tmp_path,
               timeout=20)
    assert done.returncode == 2
    assert done.stderr.strip() == "tokenboard: SLACK_BOT_TOKEN was refused by Slack: invalid_auth"
    assert [c.method for c in stub.calls()] == ["auth.test"]  # checked before anything else

    # Slack's own error is passed on, whatever it is.
    stub.refuse_token("xoxb-revoked", "token_revoked")
    done = run(["serve"], {**serve_env(stub.url, "", token="xoxb-revoked"),
                           "TOKENBOARD_DATA_DIR": str(tmp_path / "data")}, tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == "tokenboard: SLACK_BOT_TOKEN was refused by Slack: token_revoked"
    assert not (tmp_path / "data").exists()  # no embedded Redis was started for nothing

    # The worker checks the token the same way (it posts the digest).
    stub.clear()
    done = run(["worker"], serve_env(stub.url, redis_url, token="xoxb-not-the-stubs"), tmp_path,
               timeout=20)
    assert done.returncode == 2
    assert done.stderr.strip() == "tokenboard: SLACK_BOT_TOKEN was refused by Slack: invalid_auth"


@pytest.mark.slow
def test_serve_starts_with_a_good_token_and_logs_no_warnings(tmp_path: Path, stub: SlackStub,
                                                             redis_url: str) -> None:
    code, lines = serve_then_stop(serve_env(stub.url, redis_url), tmp_path)
    log = "\n".join(lines)
    assert code == 0, log
    assert [c.method for c in stub.calls("auth.test")] == ["auth.test"]
    assert "Slack accepted SLACK_BOT_TOKEN: bot user UBOT in workspace Test (T0TEST)" in log
    # Bolt's "As you gave `client` as well, `token` will be unused." and any other warning
    assert not [line for line in lines if " WARNING " in line or " ERROR " in line], log
    assert "will be unused" not in log
    # the SIGTERM handler logs without writing to stderr from inside the signal handler
    assert "Logging error" not in log and "reentrant call" not in log
    assert lines[-1].endswith("bot.runtime.serve: stopped")


@pytest.mark.slow
def test_slack_unreachable_at_start_up_is_a_warning(tmp_path: Path, redis_url: str) -> None:
    closed = f"http://127.0.0.1:{free_port()}/api/"  # nothing listens there
    code, lines = serve_then_stop(serve_env(closed, redis_url), tmp_path)
    log = "\n".join(lines)
    assert code == 0, log
    warnings = [line for line in lines if " WARNING bot.slack.startup: " in line]
    assert len(warnings) == 1 and "could not reach Slack to check SLACK_BOT_TOKEN" in warnings[0]
    assert any("listening on port" in line for line in lines)


