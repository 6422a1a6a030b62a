"""One workspace's store: everything tokenboard keeps in Redis, as small objects by
concern, each with methods named for what they mean. Nothing outside `bot.store` uses
the Redis client or the key names (`r` and `keys` are there for the store's own parts
and for tests that set up or inspect Redis).

    store.counting    counting events exactly once, crediting an identity's kept days
    store.reads       the boards: whole periods, a request's top, a person's days and ranks
    store.configs     the board configuration, its versions and audit
    store.rescoring   rebuilding points (or a raw metric) after a change, live
    store.privacy     opting out, forgetting a person
    store.digests     the daily digest's exactly-once bookkeeping
    store.heard       which sources reported, and when
    store.slack_cache Slack profiles, emails, channel ids and checks
    store.charts      charts uploaded to Slack (App Home, the period's slope chart)
    store.figures     whole-population figures per period, the periods being read
    store.pulls       the vendor connectors' state, one source per tool
    store.identity_map  identity links, what is kept for unmapped identities, claims
    store.worker      the worker's heartbeat
    store.layout      the storage layout's version, migrating an older layout's data
    store.outcome_ledger, store.pull_requests  what the outcome rules remember
    store.senders(…), store.rate_limiter(…), store.replays(…)  per-process objects

Every key shares the workspace's hash tag: on a Redis Cluster all of them, scripts and
pipelines included, go to the primary that owns its slot (bot.store.cluster).
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

import redis
from redis.cluster import RedisCluster

from bot.store.charts import Charts
from bot.store.cluster import workspace_client
from bot.store.configs import Configs
from bot.store.counting import (
    CONFLICT,
    COUNTED,
    DUPLICATE,
    REBUILDING,
    STALE_CACHE,
    STALE_CONFIG,
    Counting,
)
from bot.store.digest_ledger import DigestLedger
from bot.store.figures import Figures
from bot.store.heard import Heard
from bot.store.identity_map import IdentityMap
from bot.store.keys import Keys
from bot.store.layout import Layout
from bot.store.outcome_ledger import OutcomeLedger
from bot.store.privacy import Privacy
from bot.store.pull_requests import PullRequests
from bot.store.pull_state import PullState
from bot.store.ratelimit import RateLimiter
from bot.store.reads import Reads
from bot.store.replays import Replays
from bot.store.rescoring import RebuildAborted, Rescoring
from bot.store.senders import Senders
from bot.store.slack_cache import SlackCache
from bot.store.workers import WorkerBeat
from bot.store.workspace import WorkspaceRedis, is_identity

__all__ = ["COUNTED", "CONFLICT", "DUPLICATE", "REBUILDING", "STALE_CACHE", "STALE_CONFIG",
           "RebuildAborted",
           "Store", "is_identity"]


class Store:
    """Redis access for one workspace."""

    def __init__(self, client: redis.Redis | RedisCluster, workspace: str = "default",
                 tz: ZoneInfo | None = None, retention_days: int = 400,
                 wait_replicas: int = 0, wait_ms: int = 500) -> None:
        """`wait_replicas`: counting returns only once that many replicas have the writes
        (WAIT, at most `wait_ms`), else raises redis.ConnectionError (REDIS_WAIT_REPLICAS)."""
        self.ws = workspace
        self.keys = Keys(workspace)
        self.root = client  # what other workspaces' stores are built on
        self.r = workspace_client(client, self.keys.prefix)
        self.tz = tz or ZoneInfo("UTC")
        self.retention_days = retention_days
        space = WorkspaceRedis(self.r, self.keys, self.tz, retention_days)
        self.counting = Counting(space, wait_replicas, wait_ms)
        self.reads = Reads(space)
        self.configs = Configs(space)
        self.rescoring = Rescoring(space, self.configs, self.reads)
        self.digests = DigestLedger(space)
        self.heard = Heard(space)
        self.slack_cache = SlackCache(space)
        self.charts = Charts(space)
        self.figures = Figures(space)
        self.pulls = PullState(space)
        self.identity_map = IdentityMap(space)
        self.privacy = Privacy(space, self.identity_map)
        self.worker = WorkerBeat(space)
        self.layout = Layout(space)
        self.outcome_ledger = OutcomeLedger(self.r, self.keys, retention_days)
        self.pull_requests = PullRequests(self.r, self.keys, retention_days)

    def ping(self) -> bool:
        try:
            return bool(self.r.ping())
        except (redis.ConnectionError, redis.TimeoutError):
            return False

    def senders(self, env_tokens: tuple[str, ...] = ()) -> Senders:
        """This workspace's ingest tokens (`env_tokens`: INGEST_TOKENS, if its own)."""
        return Senders(self.r, self.keys, env_tokens)

    def rate_limiter(self, per_minute: int) -> RateLimiter:
        return RateLimiter(self.r, self.keys, per_minute)

    def replays(self, timeout: float) -> Replays:
        """Slack request signatures already answered, on connections that wait at most
        `timeout` seconds."""
        return Replays(self.r, self.keys, timeout)

    def dump_keys(self) -> list[str]:
        """Every key of this workspace (tests and diagnostics only: uses SCAN)."""
        return sorted(k.decode() for k in self.r.scan_iter(match=self.keys.key("*"),
                                                           count=1000))
