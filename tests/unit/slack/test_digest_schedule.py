"""bot.slack.digest_schedule: when and where the digest goes, the configuration first and
the environment as the fallback (a channel id needs no Slack; Slack is unreachable here)."""

from __future__ import annotations

from dataclasses import replace
from zoneinfo import ZoneInfo

from bot.core.config import BoardConfig
from bot.core.settings import Settings
from bot.runtime.app import build_deps
from bot.slack.digest_schedule import current_schedule


def test_the_environment_is_the_fallback(settings: Settings, redis_client) -> None:
    env = replace(settings, digest_channel="C0ENV", digest_time="08:30",
                  timezone="Europe/Berlin", digest_grace_hours=2.5)
    schedule = current_schedule(build_deps(env, redis_client), BoardConfig())
    assert (schedule.channel, schedule.time, schedule.timezone, schedule.grace_hours,
            schedule.channel_error) == ("C0ENV", "08:30", "Europe/Berlin", 2.5, None)
    assert schedule.hour_minute == (8, 30) and schedule.tz == ZoneInfo("Europe/Berlin")


def test_the_configuration_wins(settings: Settings, redis_client) -> None:
    env = replace(settings, digest_channel="C0ENV", digest_time="08:30")
    config = BoardConfig(digest_channel="C0CONF", digest_time="17:05", timezone="Asia/Tokyo",
                         digest_enabled=False)
    schedule = current_schedule(build_deps(env, redis_client), config)
    assert (schedule.channel, schedule.time, schedule.timezone, schedule.enabled) == (
        "C0CONF", "17:05", "Asia/Tokyo", False)

