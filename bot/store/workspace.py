"""One workspace's Redis as every part of its store sees it: the client (on a Redis
Cluster, the primary owning the workspace's hash slot), its key names, time zone and
retention window; and small helpers they share."""

from __future__ import annotations

import hashlib
import time as _time
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import redis

from bot.store.keys import Keys


@dataclass(frozen=True)
class WorkspaceRedis:
    r: redis.Redis  # every key below shares the workspace's hash tag (bot.store.cluster)
    keys: Keys
    tz: ZoneInfo
    retention_days: int


def time_now() -> float:
    return round(_time.time(), 3)


def is_identity(who: str) -> bool:
    """True for `source:value` identities (Slack user ids never hold a colon)."""
    return ":" in who


def user_hash(user: str) -> int:
    """The 32-bit user hash the scripts use (common/buckets.lua `user_hash`)."""
    return int(hashlib.sha1(user.encode()).hexdigest()[:8], 16)
