"""Where the suite's files are, for test modules at any depth below tests/."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent  # the repository
PAYLOADS = TESTS / "payloads"  # the suite's own payloads (tests/payloads/README.md)
