"""Who is who: Slack user profiles and email → user lookups, cached in Redis.

users.info answers are cached for a day so a board of 20 names costs no Slack calls on
a warm cache (the names not cached are asked about concurrently, and an id Slack does not
know is remembered for ten minutes); a Slack failure degrades to showing the user id,
never to an error.

Email lookups are different: a report cannot be attributed without them, so a Slack
failure (rate limit, 5xx, network, bad token or scope) raises LookupUnavailable and the
whole batch is answered 503 with Retry-After instead of losing the reports. The distinct
uncached emails of a batch are looked up concurrently (LOOKUP_WORKERS at a time) with a
client that does not wait out 429s itself: the first rate limit stops the batch at once
and its Retry-After is passed on to the sender.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler

from bot.store.store import Store

log = logging.getLogger(__name__)
MISS_TTL = 600  # an unknown email or user id is asked about again after ten minutes
LOOKUP_WORKERS = 8  # concurrent users.lookupByEmail calls (Slack's Tier 3: 50+/minute)
LOOKUP_TIMEOUT = 5  # seconds per lookup: the sender's HTTP request is waiting
DEFAULT_RETRY_AFTER = 10  # seconds, when Slack gives no Retry-After
CACHE_READ_BATCH = 500
# How long a process trusts an email → user answer it read before without asking Redis
# again: a report of a person found by email then costs no round trip of its own (longer
# than the minute between a laptop's exports). An email Slack moves to another person is
# followed within this time.
EMAIL_MEMO_SECONDS = 600.0
EMAIL_MEMO_KEPT = 100_000


class LookupUnavailable(Exception):
    """Slack could not be asked right now; the caller should retry after `retry_after`
    seconds (Slack's own Retry-After on a rate limit)."""

    def __init__(self, message: str, retry_after: int = DEFAULT_RETRY_AFTER) -> None:
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))


def _retry_after(exc: SlackApiError) -> int:
    headers = getattr(exc.response, "headers", None) or {}
    for key, value in headers.items():
        if key.lower() == "retry-after":
            raw = value[0] if isinstance(value, list) and value else value
            try:
                return max(1, int(float(raw)))
            except (TypeError, ValueError):
                break
    return DEFAULT_RETRY_AFTER


class Directory:
    def __init__(self, store: Store, client: WebClient | None) -> None:
        self.store = store
        self.client = client
        self._lookup_client = _lookup_client(client)
        self._memo: dict[str, tuple[float, str]] = {}  # email → (when read, user id)
        self._memo_lock = threading.Lock()

    def profiles(self, user_ids: list[str], fresh: bool = False) -> dict[str, dict[str, str]]:
        """Profile dicts (name, real_name, is_admin, is_owner) for each id, cache first;
        `fresh` asks Slack again (for authorization decisions), falling back to the cache.
        The ids not cached are asked about concurrently (LOOKUP_WORKERS at a time); an id
        Slack does not know is remembered for MISS_TTL seconds, shown as the id."""
        cached = self.store.slack_cache.users(user_ids)
        found = {} if fresh and self.client is not None else dict(cached)
        ask = [] if self.client is None else [u for u in dict.fromkeys(user_ids)
                                              if u not in found]
        if len(ask) == 1:
            answers = [self._profile(ask[0])]
        elif ask:
            with ThreadPoolExecutor(max_workers=min(LOOKUP_WORKERS, len(ask)),
                                    thread_name_prefix="users-info") as pool:
                answers = list(pool.map(self._profile, ask))
        else:
            answers = []
        for uid, entry in zip(ask, answers, strict=True):
            if entry is not None:
                found[uid] = entry
            elif uid in cached:
                found[uid] = cached[uid]
        return found

    def _profile(self, uid: str) -> dict[str, str] | None:
        """users.info → the cached profile; None when Slack could not answer."""
        assert self.client is not None
        try:
            user = self.client.users_info(user=uid)["user"]
        except SlackApiError as exc:
            error = exc.response.get("error")
            log.warning("users.info %s failed: %s", uid, error)
            if error == "user_not_found":
                entry = {"name": uid, "real_name": "", "is_admin": "0", "is_owner": "0"}
                self.store.slack_cache.put_user(uid, entry, ttl=MISS_TTL)
                return entry
            return None
        except Exception as exc:  # network trouble: show the id, try again next time
            log.warning("users.info %s failed: %s", uid, exc)
            return None
        profile = user.get("profile") or {}
        entry = {
            "name": profile.get("display_name") or user.get("real_name")
            or profile.get("real_name") or user.get("name") or uid,
            "real_name": user.get("real_name") or profile.get("real_name") or "",
            "is_admin": "1" if user.get("is_admin") else "0",
            "is_owner": "1" if user.get("is_owner") else "0",
        }
        self.store.slack_cache.put_user(uid, entry)
        return entry

    def names(self, user_ids: list[str]) -> dict[str, str]:
        return names_in(self.profiles(user_ids), user_ids)

    def user_for_email(self, email: str) -> str | None:
        """The Slack user id for `email`, None if Slack knows no such user.

        Raises LookupUnavailable when Slack cannot be asked (so the report is retried
        later instead of being attributed to nobody)."""
        return self.users_for_emails([email])[email.lower()]

    def users_for_emails(self, emails: Iterable[str]) -> dict[str, str | None]:
        """Lowercased email → Slack user id (None: Slack knows no such user), for every
        email given: the cache first (read in MGET batches), then the distinct misses
        looked up concurrently.

        Raises LookupUnavailable if any lookup cannot be answered (rate limit, 5xx,
        network, token or scope problems); the answers already received are cached, so
        the retry costs fewer calls."""
        found: dict[str, str | None] = {}
        wanted = []
        now = time.monotonic()
        with self._memo_lock:  # users found lately by this process (EMAIL_MEMO_SECONDS)
            for email in sorted({e.lower() for e in emails}):
                memo = self._memo.get(email)
                if memo is not None and now - memo[0] < EMAIL_MEMO_SECONDS:
                    found[email] = memo[1]
                else:
                    wanted.append(email)
        missing = []
        for start in range(0, len(wanted), CACHE_READ_BATCH):
            batch = wanted[start:start + CACHE_READ_BATCH]
            values = self.store.slack_cache.emails(batch)
            for email, value in zip(batch, values, strict=True):
                if value is None:
                    missing.append(email)
                else:
                    found[email] = value or None
        self._remember({e: found[e] for e in wanted if e in found}, now)  # the cache's
        if not missing:
            return found
        if self._lookup_client is None:
            raise LookupUnavailable("email lookup needs SLACK_BOT_TOKEN", retry_after=60)
        stop = threading.Event()
        failures: list[LookupUnavailable] = []

        def lookup(email: str) -> None:
            if stop.is_set():
                return
            try:
                found[email] = self._lookup(email)
            except LookupUnavailable as exc:
                failures.append(exc)
                stop.set()

        workers = min(LOOKUP_WORKERS, len(missing))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="email-lookup") as pool:
            for future in [pool.submit(lookup, email) for email in missing]:
                future.result()
        if failures:
            raise max(failures, key=lambda f: f.retry_after)
        self._remember({e: found[e] for e in missing}, now)  # Slack's
        return found

    def _remember(self, found: Mapping[str, str | None], now: float) -> None:
        """Keep the users found (never a miss: a person who joins is found at once)."""
        with self._memo_lock:
            if len(self._memo) >= EMAIL_MEMO_KEPT:
                self._memo.clear()
            for email, user in found.items():
                memo = self._memo.get(email)
                if user and (memo is None or now - memo[0] >= EMAIL_MEMO_SECONDS):
                    self._memo[email] = (now, user)  # a fresh answer, not a memo hit

    def _lookup(self, email: str) -> str | None:
        assert self._lookup_client is not None
        try:
            user = self._lookup_client.users_lookupByEmail(email=email)["user"]
        except SlackApiError as exc:
            error = exc.response.get("error") if isinstance(exc.response.data, dict) else None
            status = exc.response.status_code
            if error == "users_not_found":
                self.store.slack_cache.put_email(email, "", ttl=MISS_TTL)
                return None
            if status == 429 or error == "ratelimited":
                raise LookupUnavailable("users.lookupByEmail is rate-limited by Slack",
                                        retry_after=_retry_after(exc)) from None
            log.warning("users.lookupByEmail failed: HTTP %s %s", status, error)
            retry = _retry_after(exc) if status >= 500 else 60
            raise LookupUnavailable(f"users.lookupByEmail failed: {error or f'HTTP {status}'}",
                                    retry_after=retry) from None
        except Exception as exc:  # network trouble
            log.warning("users.lookupByEmail failed: %s", exc)
            raise LookupUnavailable(f"users.lookupByEmail failed: {type(exc).__name__}"
                                    ) from None
        self.store.slack_cache.put_email(email, user["id"])
        return user["id"]


def names_in(profiles: Mapping[str, Mapping[str, str]], user_ids: list[str]) -> dict[str, str]:
    """Each id's name in `profiles` (as `Directory.profiles` gives them); the id itself when
    there is none."""
    return {uid: profiles.get(uid, {}).get("name", uid) for uid in user_ids}


def _lookup_client(client: WebClient | None) -> WebClient | None:
    """A client for email lookups: same token and URL, a short timeout, and no waiting
    out 429s or retrying 5xx (the sender retries the whole batch instead); one retry of
    a dropped connection."""
    if client is None:
        return None
    return WebClient(token=client.token, base_url=client.base_url, timeout=LOOKUP_TIMEOUT,
                     retry_handlers=[ConnectionErrorRetryHandler(max_retry_count=1)])
