"""When and where the daily digest goes (`Schedule`): the configuration's values, falling
back to the environment; a channel given by name is turned into its id with Slack
(`bot.slack.channels.resolve_channel`). Read by the digest job and scheduler
(`jobs.digest`, `jobs.scheduler`), App Home and the CLI."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from bot.core.channel_ids import is_channel_id
from bot.core.config import BoardConfig
from bot.runtime.deps import Deps
from bot.slack.channels import ChannelUnresolved, resolve_channel

__all__ = ["Schedule", "current_schedule"]


@dataclass(frozen=True)
class Schedule:
    """When and where the digest goes: config values, falling back to the environment."""

    channel: str
    time: str  # "HH:MM"
    timezone: str
    enabled: bool
    grace_hours: float
    channel_error: str | None = None  # a channel name that could not be turned into an id

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def hour_minute(self) -> tuple[int, int]:
        hh, mm = self.time.split(":")
        return int(hh), int(mm)


def current_schedule(deps: Deps, config: BoardConfig | None = None) -> Schedule:
    """The one place the digest schedule is read from; admins' changes apply at once."""
    config = config or deps.store.configs.load()
    s = deps.settings
    channel, channel_error = config.digest_channel or s.digest_channel, None
    if channel and not is_channel_id(channel):  # DIGEST_CHANNEL=#general: its id
        try:
            channel = resolve_channel(channel, deps.client, deps.store)
        except ChannelUnresolved as exc:
            channel_error = f"the digest channel {channel} in the environment: {exc}"
    return Schedule(channel=channel,
                    time=config.digest_time or s.digest_time,
                    timezone=config.timezone or s.timezone,
                    enabled=config.digest_enabled,
                    grace_hours=s.digest_grace_hours,
                    channel_error=channel_error)
