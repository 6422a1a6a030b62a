"""The benchmarks keep running as the code changes: the quicker ones, at their `--quick`
sizes, through `python -m bench` as `make bench` runs them (a minute in all). Figures are
not checked here (they are printed, never asserted); what is checked is that each
benchmark runs to its end and gives its figures, and that the checks they make of what
they counted hold (the ingest benchmark's end state against plain redis-py, the
leaderboard's boards against Redis, the vendor import's totals)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # redis-servers, a served app and the Slack stub, ~1 minute

ROOT = Path(__file__).resolve().parents[1]
QUICK = ("slash_latency", "ingest", "vendor_import", "memory", "teams", "leaderboard", "digest")


def test_the_quicker_benchmarks_run_to_their_end_and_their_checks_hold() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "bench", "--quick", *QUICK], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=600, check=False)
    out = done.stdout
    assert done.returncode == 0, out[-4000:] + done.stderr[-2000:]
    assert "FAILED" not in out and "!! " not in out, out[-4000:]
    summary = out.split("== summary", 1)[-1]  # a line per benchmark that gave its figures
    for name in QUICK:
        assert re.search(rf"^   {name} ", summary, re.MULTILINE), \
            f"no figures from {name}:\n{out[-3000:]}"
    assert "end states equal  : yes" in out, out  # the app wrote what plain redis-py did
    assert "sanity: boards match Redis" in out, out
