"""bot.connectors.http: vendors' base URLs and Retry-After (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest


def test_base_urls_take_scheme_host_and_port_only() -> None:
    from bot.core.settings import SettingsError, load_settings

    loaded = load_settings({"CURSOR_API_URL": "http://127.0.0.1:8081/"}, dotenv_path=None)
    assert loaded.cursor_api_url == "http://127.0.0.1:8081"
    assert load_settings({}, dotenv_path=None).openai_api_url == "https://api.openai.com"
    for bad in ("http://127.0.0.1:8081/v1", "ftp://host", "127.0.0.1:8081", "http://h/?x=1"):
        with pytest.raises(SettingsError, match="OPENAI_API_URL must be scheme://host:port"):
            load_settings({"OPENAI_API_URL": bad}, dotenv_path=None)


def test_retry_after_as_an_http_date() -> None:
    from bot.connectors.http import retry_after

    now = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    assert retry_after("Wed, 25 Nov 2026 09:00:30 GMT", now) == 30
    assert retry_after("12", now) == 12 and retry_after("soon", now) is None
