"""tests/unit/: one module's behaviour, in this process, in well under a second a test.

A test here may use the session's redis-server (`redis_client`, `store`, `deps`) and
nothing else that runs beside it: no server of tokenboard's own, no Slack Web API stub,
no process started by the test (checked by tests/conftest.py: the fixtures at
collection, a process or tokenboard's server at run time, since no test here is slow).
Slack is configured but unreachable: code that would ask Slack fails the test instead of
waiting.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from bot.core.settings import Settings
from bot.intake.identities import Identities
from bot.slack.directory import Directory
from bot.store.store import Store
from tests.conftest import BOT_TOKEN, INGEST_TOKEN, SIGNING_SECRET

UNREACHABLE_SLACK = "http://127.0.0.1:9/api/"  # the discard port: refused at once


@pytest.fixture
def settings(redis_url: str, tmp_path: Path) -> Settings:
    """As tests/conftest.py's, but Slack's Web API is a closed port, not the stub."""
    return Settings(
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=UNREACHABLE_SLACK,
        redis_url=redis_url,
        data_dir=tmp_path,
        ingest_tokens=(INGEST_TOKEN, "ingest-secret-2"),
        timezone="UTC",
    )


@pytest.fixture
def store(redis_client: redis.Redis) -> Store:
    """The default workspace's store on the (flushed) session Redis, in UTC."""
    return Store(redis_client)


@pytest.fixture
def identities(store: Store) -> Identities:
    """The identity map with no Slack client: Slack user ids and linked identities
    resolve; an email not linked cannot be looked up (LookupUnavailable)."""
    return Identities(store, Directory(store, None))
