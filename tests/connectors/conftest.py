"""tests/connectors/: vendor admin reports pulled from local stubs of each API
(tests/vendor_stubs.py), and imported from files. The people the reports name, as Slack
knows them, and Claude Code's stub."""

from __future__ import annotations

import pytest

from tests.support.connector_pulls import KEY
from tests.vendor_stubs import ClaudeStub


@pytest.fixture
def people(stub) -> None:
    stub.add_user("U0ANA", real_name="Ana", email="ana@example.com")
    stub.add_user("U0BOB", real_name="Bob")  # Bob's email is unknown to Slack


@pytest.fixture
def claude() -> ClaudeStub:
    server = ClaudeStub(KEY, page_size=2)
    yield server
    server.close()
