"""The digest tests' deps (digest channel, Berlin), reports recorded at an instant, the
hand-ranked fixture org with hostile names, and `tokenboard digest` run as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path

import redis

from bot.core.config import BoardConfig
from bot.core.settings import Settings
from bot.runtime.app import build_deps
from bot.runtime.deps import Deps
from bot.sources.reports import OutcomeReport, UsageReport
from bot.sources.reports import as_counts as as_event
from tests.slack_stub import SlackStub
from tests.support.digests import BERLIN, CHANNEL, DAY
from tests.support.paths import ROOT

# -- deps and reports ---------------------------------------------------------------------


def digest_settings(settings: Settings, **changes: object) -> Settings:
    return replace(settings, **{"digest_channel": CHANNEL, "timezone": "Europe/Berlin",
                                **changes})


def make_deps(settings: Settings, redis_client: redis.Redis, **changes: object) -> Deps:
    return build_deps(digest_settings(settings, **changes), redis_client)


def local(day: date, hour: int, minute: int = 0) -> datetime:
    """An aware instant at hour:minute wall-clock time in Berlin on `day`."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=BERLIN)


def seed(deps: Deps, at: datetime, people: dict[str, tuple[int, dict[str, int]]],
         prefix: str = "", tool: str = "t") -> None:
    """people: user -> (tokens, {outcome kind: count}), all reported at `at` by `tool`."""
    reports: list[tuple[UsageReport | OutcomeReport, str]] = []
    for user, (tokens, outcomes) in people.items():
        if tokens:
            reports.append((UsageReport(id=f"{prefix}u-{user}-{at.isoformat()}", type="usage",
                                        user=user, ts=at, tool=tool, tokens=tokens), user))
        for kind, count in outcomes.items():
            reports.append((OutcomeReport(id=f"{prefix}o-{user}-{kind}-{at.isoformat()}",
                                          type="outcome", user=user, ts=at, kind=kind,
                                          count=count), user))
    counted = deps.store.counting.record([(as_event(r), who) for r, who in reports],
                                         BoardConfig())
    assert all(c == 1 for c in counted), counted  # 1 (or True): counted


# -- the fixture org -----------------------------------------------------------------------

EVIL = "<!channel>"
EVIL_ESC = "&lt;!channel&gt;"
MENTION = "<@U0ANA> Ben"
MENTION_ESC = "&lt;@U0ANA&gt; Ben"
NAMES = {"U0ANA": "Ana", "U0BEN": MENTION, "U0CAI": "Cai", "U0DEV": "Dev", "U0EVE": EVIL,
         "U0FOX": "Fox", "U0GIL": "Gil", "U0HAL": "Hal", "U0IVY": "Ivy"}

# The reported day. Outcome points with the default rules (weight * sqrt(count)):
#   review 2*1 = 2, pr_merged 5*1 = 5, 5*sqrt(4) = 10, 5*sqrt(9) = 15, deploy 3*1 = 3.
DAY_ORG = {
    "U0ANA": (900_000, {}),                 # 0 pts
    "U0BEN": (700_000, {"review": 1}),      # 2 pts
    "U0CAI": (500_000, {"pr_merged": 1}),   # 5 pts
    "U0DEV": (300_000, {"pr_merged": 4}),   # 10 pts
    "U0EVE": (150_000, {"pr_merged": 9}),   # 15 pts
    "U0FOX": (50_000, {"deploy": 1}),       # 3 pts, below the 100k efficiency minimum
}
DAY_POINTS = {"U0ANA": 0, "U0BEN": 2, "U0CAI": 5, "U0DEV": 10, "U0EVE": 15, "U0FOX": 3}
# The day before: three other people, commits scored log(1 + n): ln 2, ln 3, ln 4.
PREV_ORG = {
    "U0GIL": (30_000, {"commit": 1}),
    "U0HAL": (20_000, {"commit": 2}),
    "U0IVY": (10_000, {"commit": 3}),
}


def add_names(stub: SlackStub) -> None:
    for uid, name in NAMES.items():
        stub.add_user(uid, display_name=name)


def seed_org(deps: Deps) -> None:
    seed(deps, local(DAY, 12), DAY_ORG)
    seed(deps, local(DAY - timedelta(days=1), 12), PREV_ORG)


# -- the `tokenboard digest` command ----------------------------------------------------------


def cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen:
    """Start `python -m bot digest ...` (several may run at once to save time)."""
    base = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "HOME": str(cwd),
            "MPLCONFIGDIR": str(cwd / "mpl")}
    return subprocess.Popen([sys.executable, "-m", "bot", "digest", *args],
                            env={**base, **env}, cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen) -> tuple[int, str, str]:
    stdout, stderr = process.communicate(timeout=60)
    return process.returncode, stdout, stderr
