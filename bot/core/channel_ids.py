"""What a digest channel may be written as: an id (`C…` public, `G…` private) or a name
(`#general` or `general`). Pure: the configuration and the settings check with it;
turning a name into an id needs Slack (`bot.slack.channels.resolve_channel`)."""

from __future__ import annotations

import re

CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,}$")
# Slack channel names: lowercase letters, digits, -, _ and . (and non-Latin letters), ≤ 80.
CHANNEL_NAME = re.compile(r"^#?[^\sA-Z#<>@&,*`|]{1,80}$")


def is_channel_id(value: str) -> bool:
    return bool(CHANNEL_ID.match(value))


def channel_problem(value: str) -> str | None:
    """Why `value` is neither a channel id nor a channel name; None when it is one."""
    if is_channel_id(value) or CHANNEL_NAME.match(value):
        return None
    return (f"{value!r} is neither a channel id (C… or G…) nor a channel name like "
            "#general")
