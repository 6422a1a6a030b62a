"""One rule for digest channels everywhere (`.env`, `config import`, the schedule).

A channel is given by its id (`C…` public, `G…` private) or by its name (`#general` or
`general`). Ids are used as they are. Names are turned into ids with `conversations.list`
where a Slack client is available (the answer is cached in Redis for a day); where none
is, or Slack knows no such channel, `ChannelUnresolved` says which and what to do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.core.channel_ids import CHANNEL_ID, CHANNEL_NAME, channel_problem, is_channel_id

__all__ = ["CHANNEL_ID", "CHANNEL_NAME", "ChannelUnresolved", "channel_problem",
           "is_channel_id", "resolve_channel"]

if TYPE_CHECKING:
    from bot.store.store import Store

CACHE_TTL = 86_400


class ChannelUnresolved(ValueError):
    """A channel name that could not be turned into an id; the message says why."""


def resolve_channel(value: str, client: WebClient | None, cache: Store | None = None) -> str:
    """The channel id for `value` (an id, or a name looked up with conversations.list).

    `cache` (a Store, optional) keeps name → id for a day. Raises ChannelUnresolved.
    """
    value = value.strip()
    if is_channel_id(value):
        return value
    problem = channel_problem(value)
    if problem:
        raise ChannelUnresolved(problem)
    name = value.removeprefix("#")
    if cache is not None:
        known = cache.slack_cache.channel_id(name)
        if known:
            return known
    if client is None:
        raise ChannelUnresolved(
            f"#{name} is a channel name and no Slack client is available to look it up "
            "with conversations.list (SLACK_BOT_TOKEN is not set): give the channel id "
            "(C… or G…) instead, or set SLACK_BOT_TOKEN")
    try:
        found = _find(client, name)
    except SlackApiError as exc:
        raise ChannelUnresolved(
            f"cannot look #{name} up with conversations.list "
            f"({exc.response.get('error', 'error')}; needs the channels:read and "
            "groups:read scopes): give the channel id (C… or G…) instead") from None
    if found is None:
        raise ChannelUnresolved(
            f"no channel named #{name} that the bot can see (a private channel needs the "
            "bot invited first): check the name, or give the channel id (C… or G…)")
    if cache is not None:
        cache.slack_cache.put_channel_id(name, found, CACHE_TTL)
    return found


def _find(client: WebClient, name: str) -> str | None:
    cursor = None
    while True:
        page = client.conversations_list(types="public_channel,private_channel",
                                         exclude_archived=True, limit=1000, cursor=cursor)
        for channel in page.get("channels", []):
            if channel.get("name") == name:
                return channel["id"]
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            return None
