"""The Copilot report the suite ships, and GitHub Docs' example of it in ../shared."""

from __future__ import annotations

from pathlib import Path

from tests.reference import reference_dir
from tests.support.paths import PAYLOADS

# The suite's own users-1-day report (NDJSON, as the download links serve it): jpark-dev on
# two days, Mara-Okafor on the first.
COPILOT_REPORT = PAYLOADS / "copilot" / "users-1-day.ndjson"


def github_docs_example() -> Path:
    """GitHub Docs' user-level example (CC BY 4.0) in ../shared; skips, or fails in CI,
    without it."""
    return reference_dir("copilot") / "example-schema.user-level.json"
