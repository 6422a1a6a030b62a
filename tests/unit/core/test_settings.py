"""bot.core.settings: settings read from the environment (PUBLIC_URL, DIGEST_*, the Redis
cluster switch) and .env.example listing every variable the code reads."""

from __future__ import annotations

import pytest

from bot.core.settings import SettingsError, load_settings
from tests.support.paths import ROOT


def test_public_url_setting() -> None:
    assert load_settings({"PUBLIC_URL": " https://tb.example.com/ "}).public_url == \
        "https://tb.example.com"
    assert load_settings({}).public_url == ""
    for bad in ("tb.example.com", "ftp://tb.example.com", "https://tb.example.com/?a=1"):
        with pytest.raises(SettingsError, match="PUBLIC_URL"):
            load_settings({"PUBLIC_URL": bad})


def test_env_example_lists_every_variable_the_code_reads() -> None:
    import re

    source = (ROOT / "bot" / "core" / "settings.py").read_text()
    read = set(re.findall(r'env(?:\.get)?\(\s*"([A-Z_]+)"', source))
    read |= set(re.findall(r'_(?:int|hours|flag|choice|base_url)\(env, "([A-Z_]+)"', source))
    listed = set(re.findall(r"^([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.M))
    assert read and read == listed


def test_digest_settings_take_decimal_hours_and_channel_names() -> None:
    from bot.core.settings import SettingsError, load_settings

    assert load_settings({"DIGEST_GRACE_HOURS": "1.5"}).digest_grace_hours == 1.5
    assert load_settings({"DIGEST_GRACE_HOURS": "0"}).digest_grace_hours == 0.0
    assert load_settings({}).digest_grace_hours == 6.0
    for bad in ("soon", "-1", "nan", "inf"):
        try:
            load_settings({"DIGEST_GRACE_HOURS": bad})
        except SettingsError as exc:
            assert "DIGEST_GRACE_HOURS" in str(exc)
        else:
            raise AssertionError(f"DIGEST_GRACE_HOURS={bad} accepted")
    assert load_settings({"DIGEST_CHANNEL": "#general"}).digest_channel == "#general"
    assert load_settings({"DIGEST_CHANNEL": "C0123ABCD"}).digest_channel == "C0123ABCD"
    try:
        load_settings({"DIGEST_CHANNEL": "<#C0123|general>"})
    except SettingsError as exc:
        assert "DIGEST_CHANNEL" in str(exc) and "channel id" in str(exc)
    else:
        raise AssertionError("a malformed DIGEST_CHANNEL was accepted")


def test_redis_cluster_setting() -> None:
    assert load_settings({"REDIS_CLUSTER": "true"}, None).redis_cluster is True
    assert load_settings({"REDIS_CLUSTER": "false"}, None).redis_cluster is False
    assert load_settings({}, None).redis_cluster is None
    with pytest.raises(SettingsError, match="REDIS_CLUSTER"):
        load_settings({"REDIS_CLUSTER": "maybe"}, None)
