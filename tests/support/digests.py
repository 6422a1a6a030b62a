"""The digest tests' fixed day, channel and zone (tests/test_digest_*.py and the tests that
build on them)."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

CHANNEL = "C0DIGEST"
BERLIN = ZoneInfo("Europe/Berlin")
DAY = date(2026, 11, 24)  # a Tuesday; the day before is in the same ISO week (2026-W48)
