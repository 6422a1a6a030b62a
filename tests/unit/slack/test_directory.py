"""bot.slack.directory: an unreachable Slack makes email lookups LookupUnavailable."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient

from bot.slack.directory import Directory, LookupUnavailable
from bot.store.embedded import free_port
from tests.conftest import BOT_TOKEN


def test_unreachable_slack_is_lookup_unavailable(deps) -> None:
    dead = WebClient(token=BOT_TOKEN, base_url=f"http://127.0.0.1:{free_port()}/api/")
    directory = Directory(deps.store, dead)
    with pytest.raises(LookupUnavailable) as raised:
        directory.users_for_emails(["a@example.com"])
    assert raised.value.retry_after >= 1
