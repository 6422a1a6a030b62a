"""`tokenboard ARGS` (`python -m bot ARGS`) run as a real subprocess, to completion."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.paths import ROOT


def run(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 60
        ) -> subprocess.CompletedProcess:
    base = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "HOME": str(cwd)}
    return subprocess.run([sys.executable, "-m", "bot", *args], env={**base, **env}, cwd=cwd,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout)
