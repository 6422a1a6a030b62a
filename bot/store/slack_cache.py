"""What tokenboard remembers of Slack's answers, so Slack is asked less: profiles
(users.info), email → user (users.lookupByEmail; "" a miss), channel name → id
(conversations.list) and whether the bot can post in a channel (conversations.info)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from bot.store.workspace import WorkspaceRedis

NAME_TTL = 24 * 3600


class SlackCache:
    def __init__(self, ws: WorkspaceRedis) -> None:
        self.ws = ws

    # -- profiles -------------------------------------------------------------------------
    def users(self, user_ids: Iterable[str]) -> dict[str, dict[str, str]]:
        """The cached profile of each of `user_ids` that has one."""
        ids = list(dict.fromkeys(user_ids))
        pipe = self.ws.r.pipeline(transaction=False)
        for uid in ids:
            pipe.hgetall(self.ws.keys.key("user", uid))
        out = {}
        for uid, raw in zip(ids, pipe.execute(), strict=True):
            if raw:
                out[uid] = {k.decode(): v.decode() for k, v in raw.items()}
        return out

    def put_user(self, user_id: str, profile: dict[str, str], ttl: int = NAME_TTL) -> None:
        key = self.ws.keys.key("user", user_id)
        pipe = self.ws.r.pipeline(transaction=True)
        pipe.delete(key)
        pipe.hset(key, mapping=profile)
        pipe.expire(key, ttl)
        pipe.execute()

    # -- emails ---------------------------------------------------------------------------
    def email(self, email: str) -> str | None:
        """The user id cached for `email` ("" a cached miss), None if not cached."""
        value = self.ws.r.get(self.ws.keys.key("email", email.lower()))
        return value.decode() if value is not None else None

    def emails(self, emails: Sequence[str]) -> list[str | None]:
        """`email` for each of `emails` (lowercased already), in one MGET."""
        values = self.ws.r.mget([self.ws.keys.key("email", e) for e in emails])
        return [v.decode() if v is not None else None for v in values]

    def put_email(self, email: str, user_id: str, ttl: int = NAME_TTL) -> None:
        """user_id "" records a miss (cached for a shorter time by the caller)."""
        self.ws.r.set(self.ws.keys.key("email", email.lower()), user_id, ex=ttl)

    # -- channels -------------------------------------------------------------------------
    def channel_id(self, name: str) -> str | None:
        """The id cached for channel `name` (without '#')."""
        value = self.ws.r.get(self.ws.keys.key("channel", name))
        return value.decode() if value else None

    def put_channel_id(self, name: str, channel_id: str, ttl: int) -> None:
        self.ws.r.set(self.ws.keys.key("channel", name), channel_id, ex=ttl)

    def channel_check(self, channel: str) -> str | None:
        """What the last check of whether the bot can post in `channel` said, if fresh."""
        value = self.ws.r.get(self.ws.keys.channel_check(channel))
        return value.decode() if value is not None else None

    def put_channel_check(self, channel: str, status: str, ttl: int) -> None:
        self.ws.r.set(self.ws.keys.channel_check(channel), status, ex=ttl)
