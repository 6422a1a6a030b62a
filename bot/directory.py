"""Who is who: Slack user profiles and email → user lookups, cached in Redis.

users.info answers are cached for a day so a board of 20 names costs no Slack calls on
a warm cache; a Slack failure degrades to showing the user id, never to an error.
"""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.store import Store

log = logging.getLogger(__name__)
MISS_TTL = 600  # an unknown email is asked about again after ten minutes


class LookupUnavailable(Exception):
    """Slack could not be asked right now; the caller should retry later."""


class Directory:
    def __init__(self, store: Store, client: WebClient | None) -> None:
        self.store = store
        self.client = client

    def profiles(self, user_ids: list[str], fresh: bool = False) -> dict[str, dict[str, str]]:
        """Profile dicts (name, real_name, is_admin, is_owner) for each id, cache first;
        `fresh` asks Slack again (for authorization decisions), falling back to the cache."""
        cached = self.store.cached_users(user_ids)
        found = {} if fresh and self.client is not None else dict(cached)
        for uid in user_ids:
            if uid in found or self.client is None:
                continue
            try:
                user = self.client.users_info(user=uid)["user"]
            except SlackApiError as exc:
                log.warning("users.info %s failed: %s", uid, exc.response.get("error"))
                if uid in cached:
                    found[uid] = cached[uid]
                continue
            except Exception as exc:  # network trouble: show the id, try again next time
                log.warning("users.info %s failed: %s", uid, exc)
                if uid in cached:
                    found[uid] = cached[uid]
                continue
            profile = user.get("profile") or {}
            entry = {
                "name": profile.get("display_name") or user.get("real_name")
                or profile.get("real_name") or user.get("name") or uid,
                "real_name": user.get("real_name") or profile.get("real_name") or "",
                "is_admin": "1" if user.get("is_admin") else "0",
                "is_owner": "1" if user.get("is_owner") else "0",
            }
            self.store.cache_user(uid, entry)
            found[uid] = entry
        return found

    def names(self, user_ids: list[str]) -> dict[str, str]:
        profiles = self.profiles(user_ids)
        return {uid: profiles.get(uid, {}).get("name", uid) for uid in user_ids}

    def user_for_email(self, email: str) -> str | None:
        """The Slack user id for `email`, None if Slack knows no such user.

        Raises LookupUnavailable when Slack cannot be asked (so the report is rejected
        with a retryable message instead of being attributed to nobody).
        """
        cached = self.store.cached_email(email)
        if cached is not None:
            return cached or None
        if self.client is None:
            raise LookupUnavailable("email lookup needs SLACK_BOT_TOKEN")
        try:
            user = self.client.users_lookupByEmail(email=email)["user"]
        except SlackApiError as exc:
            error = exc.response.get("error")
            if error == "users_not_found":
                self.store.cache_email(email, "", ttl=MISS_TTL)
                return None
            raise LookupUnavailable(f"users.lookupByEmail failed: {error}") from None
        except Exception as exc:
            raise LookupUnavailable(f"users.lookupByEmail failed: {exc}") from None
        self.store.cache_email(email, user["id"])
        return user["id"]
