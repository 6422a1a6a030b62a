"""The environment of a `tokenboard` process started by a test, its children (from
/proc), and letting go of a process and a stub call it held."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

from tests.conftest import BOT_TOKEN, SIGNING_SECRET
from tests.slack_stub import SlackStub
from tests.support.paths import ROOT


def base_env(tmp_path: Path, stub: SlackStub) -> dict[str, str]:
    return {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "HOME": str(tmp_path),
            "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": stub.url, "TOKENBOARD_DATA_DIR": str(tmp_path / "data"),
            "DIGEST_CHANNEL": ""}


def children(pid: int) -> list[tuple[int, str]]:
    """(pid, command name) of the processes whose parent is `pid`, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        parent = int(stat[stat.rindex(")") + 2:].split()[1])
        if parent == pid:
            found.append((int(entry.name), name))
    return found


def let_go(proc: subprocess.Popen, release: threading.Event) -> None:
    """Release the stub call a test held, and make sure `proc` is gone, whatever happened."""
    release.set()
    if proc.poll() is None:
        proc.kill()
        proc.communicate()
