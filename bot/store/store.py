"""Counting and reading in Redis: the ingest scripts, the period boards, configuration,
rescoring, privacy and digest bookkeeping. Key names come from `bot.store.keys`.

Both boards of a bucket hold the same members: a usage event adds its person to the
points set with 0 and an outcome event adds them to the raw sets with 0, so rank
arithmetic on either board covers everyone active.
"""

from __future__ import annotations

import hashlib
import json
import time as _time
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import redis
from redis.cluster import RedisCluster

from bot.core.config import BoardConfig
from bot.core.counts import Outcome, Usage, id_digest
from bot.core.periods import Bucket, buckets_for_day, local_date
from bot.core.ranking import Totals
from bot.sources.reports import OutcomeReport, UsageReport, report_fingerprint, usage_from_report
from bot.store.cluster import workspace_client
from bot.store.keys import Keys
from bot.store.scripts import (
    CREDIT_LUA,
    DAY_FORGET_LUA,
    DAY_READ_LUA,
    DONE,
    OUTCOME_LUA,
    REBUILD_COPY_LUA,
    REBUILD_RELEASE_LUA,
    REBUILD_START_LUA,
    RESCORE_LUA,
    USAGE_LUA,
)

METRICS = ("tokens", "cost", "requests", "points")
COUNTED, DUPLICATE, REBUILDING, STALE_CONFIG, CONFLICT = 1, 0, -1, -2, -3
USAGE, OUTCOME = "usage", "outcome"
HEARD_EVERY = 10.0  # seconds between "this source reported" writes per source and process
SERIES_TTL = 35 * 86400  # a cumulative series silent this long starts afresh
READ_CHUNK = 1000  # ZRANGE page: well under 1 ms of Redis time, far below the 10 ms budget
NAME_TTL = 24 * 3600
DIGEST_KEEP = 40 * 86400  # how long "this digest was posted" is remembered
CONFIG_HISTORY = 200  # audit entries kept
REBUILD_BUCKETS = 1  # day buckets (~100-200 people) per rescoring call: ~1-2 ms of Redis
REBUILD_COPY = 250  # people per copying call of a rebuild: ~1 ms of Redis
REBUILD_LOCK_TTL = 300  # refreshed as the rebuild progresses; stops the double-writes if we die
RAW_METRICS = ("cost", "requests")  # kept per day, week and month only as the raw metric
SAVE_CONFIG_LUA = """
local current = tonumber(redis.call('GET', KEYS[2]) or '0')
if tonumber(ARGV[2]) >= 0 and tonumber(ARGV[2]) ~= current then return -1 end
redis.call('SET', KEYS[1], ARGV[1])
local version = redis.call('INCR', KEYS[2])
local entry = cjson.decode(ARGV[3])
entry['version'] = version
redis.call('LPUSH', KEYS[3], cjson.encode(entry))
redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[4]) - 1)
return version
"""
RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _align(columns: list[tuple[list[bytes], np.ndarray]]) -> tuple[list[str], list[np.ndarray]]:
    """Line up (members, scores) columns read from sorted sets by member, sorted by id.

    Both boards hold the same people, so sorting each column by member makes them line
    up; if a write raced the read and the member sets differ, fall back to a dict.
    """
    keyed = []
    for members, scores in columns:
        ids = np.array(members, dtype=object if not members else None)
        order = np.argsort(ids, kind="stable")
        keyed.append((ids[order], scores[order]))
    first = keyed[0][0]
    if all(len(ids) == len(first) and np.array_equal(ids, first) for ids, _ in keyed):
        return [m.decode() for m in first.tolist()], [scores for _, scores in keyed]
    everyone = sorted({m for members, _ in columns for m in members})
    index = {m: i for i, m in enumerate(everyone)}
    aligned = []
    for members, scores in columns:
        column = np.zeros(len(everyone), dtype=np.float64)
        if members:
            column[[index[m] for m in members]] = scores
        aligned.append(column)
    return [m.decode() for m in everyone], aligned


def scoring_rules(config: BoardConfig, kind: str | None = None) -> str:
    """[RULES, MODS] as the Lua scoring function takes them (all kinds, or one)."""
    rules = {k: [r.weight, r.cap or 0, r.transform] for k, r in config.outcomes.items()
             if kind is None or k == kind}
    return json.dumps([rules, config.modifier_fractions()])


class RebuildAborted(Exception):
    """A rebuild stopped (the configuration changed, or its state expired); nothing of it
    was swapped in. Run it again."""


def user_hash(user: str) -> int:
    """The 32-bit user hash the scripts use (store_scripts `user_hash`)."""
    return int(hashlib.sha1(user.encode()).hexdigest()[:8], 16)


def _fingerprint(text: str) -> bytes:
    """A content fingerprint as stored with an event id: its first 8 hex digits as 4
    bytes (a reused id with other content is still told apart, but for 1 in 4 billion)."""
    try:
        return bytes.fromhex(text[:8]) if len(text) >= 8 else (text or "-").encode()
    except ValueError:
        return text.encode()


def is_identity(who: str) -> bool:
    """True for `source:value` identities (Slack user ids never hold a colon)."""
    return ":" in who


def report_day(report: Usage | Outcome | OutcomeReport, tz: ZoneInfo) -> date:
    """The day a report counts on: a vendor row's own calendar date, else the local day of
    its time."""
    return getattr(report, "day", None) or local_date(report.ts, tz)


def time_now() -> float:
    return round(_time.time(), 3)


class Store:
    """Redis access for one workspace."""

    def __init__(self, client: redis.Redis | RedisCluster, workspace: str = "default",
                 tz: ZoneInfo | None = None, retention_days: int = 400,
                 wait_replicas: int = 0, wait_ms: int = 500) -> None:
        """`wait_replicas`: counting returns only once that many replicas have the writes
        (WAIT, at most `wait_ms`), else raises redis.ConnectionError (REDIS_WAIT_REPLICAS)."""
        self.wait_replicas, self.wait_ms = wait_replicas, wait_ms
        self.ws = workspace
        self.keys = Keys(workspace)
        # Every key below shares the workspace's hash tag: on a Redis Cluster all of them,
        # scripts and pipelines included, go to the primary that owns its slot.
        self.root = client
        self.r = workspace_client(client, self.keys.prefix)
        self._heard: dict[str, float] = {}
        self.tz = tz or ZoneInfo("UTC")
        self.retention_days = retention_days
        self._scripts = {USAGE: self.r.register_script(USAGE_LUA),
                         OUTCOME: self.r.register_script(OUTCOME_LUA)}
        self._release = self.r.register_script(RELEASE_LUA)
        self._save_config = self.r.register_script(SAVE_CONFIG_LUA)
        self._rescore = self.r.register_script(RESCORE_LUA)
        self._credit = self.r.register_script(CREDIT_LUA)
        self._day_read = self.r.register_script(DAY_READ_LUA)
        self._day_forget = self.r.register_script(DAY_FORGET_LUA)
        self._rebuild_start = self.r.register_script(REBUILD_START_LUA)
        self._rebuild_copy = self.r.register_script(REBUILD_COPY_LUA)
        self._rebuild_release = self.r.register_script(REBUILD_RELEASE_LUA)

    # -- keys -------------------------------------------------------------------------
    def key(self, *parts: str) -> str:
        return self.keys.key(*parts)

    def zkey(self, metric: str, bucket: Bucket) -> str:
        return self.keys.zkey(metric, bucket.scope, bucket.name)

    def days_key(self, day: date) -> str:
        """The directory of `day`'s buckets of people's counts (see bot.store.scripts)."""
        return self.keys.days(day)

    # -- health -----------------------------------------------------------------------
    def ping(self) -> bool:
        try:
            return bool(self.r.ping())
        except (redis.ConnectionError, redis.TimeoutError):
            return False

    # -- writes -----------------------------------------------------------------------
    def _ttls(self, day: date) -> tuple[int, int, int, int]:
        """Seconds until the day, week and month buckets of `day` pass retention."""
        keep = timedelta(days=self.retention_days)
        week_end = day + timedelta(days=7 - day.isoweekday())
        next_month = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
        now = datetime.now(self.tz)

        def until(last_day: date) -> int:
            end = datetime.combine(last_day + timedelta(days=1), time(), self.tz) + keep
            return max(int((end - now).total_seconds()), 60)

        return (until(day), until(day), until(week_end), until(next_month - timedelta(days=1)))

    def _event_keys(self, report: Usage | Outcome | OutcomeReport, who: str, sender: str,
                    raw_metric: str) -> tuple[list, date]:
        """KEYS 1-25 of the counting scripts (see store_scripts._COMMON) for `report`
        credited to `who`."""
        day = report_day(report, self.tz)
        k = self.keys
        if is_identity(who):
            metric = "tokens" if isinstance(report, Usage) else "outcomes"
            keys = [k.ids(sender, day), k.identity_day(day, who)] + [k.none()] * 16
            tail = [k.unmapped(metric), k.identity_days(who), k.unmapped("last")]
        else:
            keys = [k.ids(sender, day), k.days(day)]
            keys += self._bucket_keys(day, raw_metric)
            tail = [k.key("unmapped", "none")] * 3
        keys += [k.key("gen"), k.rebuild(), k.key("config", "version"), k.none()] + tail
        return keys, day

    def _bucket_keys(self, day: date, raw_metric: str) -> list[str]:
        """The 16 boards of `day` (tokens, cost, requests, points × d/w/m/a); the
        placeholder `none` for the cost and requests sets of a day, week and month unless
        that is the raw metric."""
        buckets = buckets_for_day(day)
        return [self.zkey(metric, b) if metric not in RAW_METRICS or metric == raw_metric
                or b.scope == "a" else self.keys.none() for metric in METRICS for b in buckets]

    def record(self, reports: Sequence[tuple[Usage | Outcome | UsageReport | OutcomeReport,
                                             str]],
               config: BoardConfig, version: int = 0, sender: str = "default") -> list[int]:
        """Count each (report, who) once. `who` is a Slack user id, or an identity
        (`source:value`) that maps to nobody yet: then the counts are kept under the
        identity until an admin links it (see bot.intake.identities). Event ids are scoped to
        `sender`. Per report: COUNTED, DUPLICATE, STALE_CONFIG (`version` is not the
        stored configuration version: reload it and retry that report) or CONFLICT (the
        id was used before for other content). A running rebuild never stops counting.

        Usage reports of one person and day go through one Lua script call together and
        each outcome through its own (atomic: all of its counters or none), pipelined
        without MULTI so a large batch never holds Redis for long. A connection error
        raises redis.ConnectionError; reports that did run are remembered, so a retry of
        the whole batch counts each report once.
        """
        now = str(time_now())
        calls: list[tuple[str, list, list, list[int]]] = []  # script, keys, args, indices
        groups: dict[tuple[str, date], int] = {}
        for index, (report, who) in enumerate(reports):
            if isinstance(report, UsageReport):
                report = usage_from_report(report)
            day = report_day(report, self.tz)
            if isinstance(report, Usage):
                at = groups.get((who, day))
                if at is None:
                    keys, _ = self._event_keys(report, who, sender, config.raw_metric)
                    day_ttl, ttl_d, ttl_w, ttl_m = self._ttls(day)
                    args = [who, day_ttl + 86400, day_ttl, ttl_d, ttl_w, ttl_m, version, "-",
                            "0" if is_identity(who) else "1", day.isoformat(), now,
                            SERIES_TTL, 0]
                    groups[(who, day)] = at = len(calls)
                    calls.append((USAGE, keys, args, []))
                _, keys, args, indices = calls[at]
                cumulative = bool(report.series)
                if report.row:
                    keys.append(self.keys.vendor_row(report.row, day))
                else:
                    keys.append(self.keys.series(report.series) if cumulative
                                else self.keys.none())
                args += ["r" if report.row else "c" if cumulative else "d",
                         _fingerprint(report.fingerprint),
                         repr(float(report.value)),
                         f"{report.start_ns:020d}" if cumulative else id_digest(report.id),
                         f"{report.time_ns:020d}", len(report.fields)]
                for name, amount in report.fields:
                    args += [name, repr(float(amount))]
                args[12] += 1
                indices.append(index)
                continue
            keys, day = self._event_keys(report, who, sender, config.raw_metric)
            day_ttl, ttl_d, ttl_w, ttl_m = self._ttls(day)
            field = f"o:{report.kind}"
            modifiers = getattr(report, "modifiers", ())
            if modifiers:
                field += "~" + "+".join(sorted(modifiers))
            fingerprint = _fingerprint(report.fingerprint if isinstance(report, Outcome)
                                       else report_fingerprint(report))
            args = [who, day_ttl + 86400, day_ttl, ttl_d, ttl_w, ttl_m, version, fingerprint,
                    "0" if is_identity(who) else "1", day.isoformat(), now,
                    field, int(report.count), report.kind, scoring_rules(config, report.kind),
                    id_digest(report.id)]
            calls.append((OUTCOME, keys, args, [index]))
        answers = self._run(calls)
        statuses = [0] * len(reports)
        for (_, _, _, indices), answer in zip(calls, answers, strict=True):
            parts = answer if isinstance(answer, list) else [answer] * len(indices)
            for index, status in zip(indices, parts, strict=True):
                statuses[index] = int(status)
        return statuses

    def _run(self, calls: list[tuple[str, list, list, list[int]]]) -> list:
        """EVALSHA each call in one pipeline (no SCRIPT EXISTS round trip); if Redis has
        lost the scripts (a restart), load them and run the pipeline again: what already
        ran is deduplicated by its markers. With `wait_replicas`, the pipeline ends with
        WAIT, and too few replicas confirming raises redis.ConnectionError (the caller
        answers 503; the sender's retry is deduplicated)."""
        for attempt in (1, 2):
            pipe = self.r.pipeline(transaction=False)
            for script, keys, args, _ in calls:
                pipe.evalsha(self._scripts[script].sha, len(keys), *keys, *args)
            if self.wait_replicas:
                pipe.execute_command("WAIT", self.wait_replicas, self.wait_ms)
            try:
                answers = pipe.execute()
                if self.wait_replicas and answers.pop() < self.wait_replicas:
                    raise redis.ConnectionError(
                        f"fewer than {self.wait_replicas} replica(s) confirmed the writes "
                        f"within {self.wait_ms} ms (REDIS_WAIT_REPLICAS)")
                return answers
            except redis.exceptions.NoScriptError:
                if attempt == 2:
                    raise
                for script in self._scripts.values():
                    script.sha = self.r.script_load(script.script)
        return []

    def credit_day(self, identity: str, user: str, day: date, config: BoardConfig,
                   version: int) -> int:
        """Move an unmapped identity's counts of `day` to `user` (points scored with
        `config`). 1 credited, 0 nothing there, or STALE_CONFIG."""
        k = self.keys
        keys = [k.identity_day(day, identity), k.days(day)]
        keys += self._bucket_keys(day, config.raw_metric)
        keys += [k.key("gen"), k.rebuild(), k.key("config", "version"), k.none()]
        day_ttl, ttl_d, ttl_w, ttl_m = self._ttls(day)
        return int(self._credit(keys=keys, args=[user, 0, day_ttl, ttl_d, ttl_w, ttl_m,
                                                 version, "-", "1", day.isoformat(), 0,
                                                 scoring_rules(config)]))
    # -- reads ------------------------------------------------------------------------
    def generation(self) -> int:
        return int(self.r.get(self.key("gen")) or 0)

    def period_totals(self, bucket: Bucket, raw_metric: str = "tokens") -> Totals:
        """Everyone active in `bucket`, read in pages so no command blocks Redis for long."""
        metrics = ["tokens", "points"] + ([raw_metric] if raw_metric != "tokens" else [])
        keys = [self.zkey(m, bucket) for m in metrics]
        pipe = self.r.pipeline(transaction=False)
        for key in keys:
            pipe.zcard(key)
        sizes = pipe.execute()
        pipe = self.r.pipeline(transaction=False)
        for key, size in zip(keys, sizes, strict=True):
            for start in range(0, size, READ_CHUNK):
                # raw command: redis-py's withscores reply conversion costs more than Redis
                pipe.execute_command("ZRANGE", key, start, start + READ_CHUNK - 1, "WITHSCORES")
        pages = iter(pipe.execute())
        columns = []
        for size in sizes:
            members: list[bytes] = []
            scores: list[np.ndarray] = []
            for _ in range(0, size, READ_CHUNK):
                page = next(pages)
                if page and isinstance(page[0], list):  # RESP3: [member, score] pairs
                    members += [m for m, _ in page]
                    scores.append(np.array([x for _, x in page], dtype=np.float64))
                elif page:  # RESP2: member, score, ...; numpy parses the score strings
                    members += page[0::2]
                    scores.append(np.array(page[1::2]).astype(np.float64))
            columns.append((members, np.concatenate(scores) if scores else np.zeros(0)))
        users, aligned = _align(columns)
        tokens_col, points_col = aligned[0], aligned[1]
        raw_col = aligned[2] if len(aligned) > 2 else tokens_col
        return Totals(users=users, raw=raw_col, points=points_col, tokens=tokens_col)

    def day_counts(self, day: date, user: str) -> dict[str, float]:
        """A person's raw counts of `day` (tokens, cost, …, o:<kind> outcome counts)."""
        pairs = self._day_read(keys=[self.days_key(day)], args=[user])
        return {pairs[i].decode(): float(pairs[i + 1]) for i in range(0, len(pairs), 2)}

    # -- Slack lookups cache -------------------------------------------------------------
    def cached_users(self, user_ids: Iterable[str]) -> dict[str, dict[str, str]]:
        ids = list(dict.fromkeys(user_ids))
        pipe = self.r.pipeline(transaction=False)
        for uid in ids:
            pipe.hgetall(self.key("user", uid))
        out = {}
        for uid, raw in zip(ids, pipe.execute(), strict=True):
            if raw:
                out[uid] = {k.decode(): v.decode() for k, v in raw.items()}
        return out

    def cache_user(self, user_id: str, profile: dict[str, str], ttl: int = NAME_TTL) -> None:
        key = self.key("user", user_id)
        pipe = self.r.pipeline(transaction=True)
        pipe.delete(key)
        pipe.hset(key, mapping=profile)
        pipe.expire(key, ttl)
        pipe.execute()

    def cached_email(self, email: str) -> str | None:
        value = self.r.get(self.key("email", email.lower()))
        return value.decode() if value is not None else None

    def cache_email(self, email: str, user_id: str, ttl: int = NAME_TTL) -> None:
        """user_id "" records a miss (cached for a shorter time by the caller)."""
        self.r.set(self.key("email", email.lower()), user_id, ex=ttl)

    # -- configuration --------------------------------------------------------------------
    def load_config(self) -> BoardConfig:
        return self.load_config_versioned()[0]

    def load_config_versioned(self) -> tuple[BoardConfig, int]:
        raw, version = self.r.mget(self.key("config"), self.key("config", "version"))
        config = BoardConfig.model_validate_json(raw) if raw else BoardConfig()
        return config, int(version or 0)

    def save_config(self, config: BoardConfig, by: str = "", changes: Sequence[str] = (),
                    expected_version: int | None = None, scoring: bool = False) -> int | None:
        """Store a new version with its audit entry; None if `expected_version` is stale."""
        entry = json.dumps({"by": by, "at": time_now(), "changes": list(changes),
                            "scoring": scoring})
        version = self._save_config(
            keys=[self.key("config"), self.key("config", "version"),
                  self.key("config", "history")],
            args=[config.model_dump_json(), -1 if expected_version is None else expected_version,
                  entry, CONFIG_HISTORY])
        return None if int(version) < 0 else int(version)

    def scored_version(self) -> int:
        """The configuration version outcome points were last rebuilt with."""
        return int(self.r.get(self.key("config", "scored")) or 0)

    def set_scored_version(self, version: int) -> None:
        self.r.set(self.key("config", "scored"), version)

    def config_history(self, limit: int = 20) -> list[dict]:
        """Newest first: {version, by, at (epoch s), changes, scoring}."""
        return [json.loads(x) for x in self.r.lrange(self.key("config", "history"), 0, limit - 1)]

    # -- rescoring after a weight change ---------------------------------------------------
    def rebuild_points(self, config: BoardConfig,
                       progress: Callable[[int, int], None] | None = None,
                       metric: str = "points", version: int | None = None) -> dict[str, int]:
        """Recompute `metric` (outcome points with `config`'s rules; or cost or requests,
        whose day, week and month sets are kept only while they are the raw metric) for
        every retained day, week, month (and, for points, all-time) from the day counts,
        while ingest goes on. `version`: the configuration version `config` is (default:
        the stored one); events scored with another version are not mirrored.

        Phase 1 walks each day's buckets of counts, a few per Lua call: a person's new day
        value goes into the temporary day set, and new − live day value into the temporary
        week/month/all-time sets (a correction that events scored with this version leave
        unchanged). Phase 2 adds each person's live week/month/all-time score to those,
        a chunk of people per call in user-hash order. Events counted meanwhile with the
        same version also write into the temporary sets wherever the rebuild has already
        passed (store_scripts._BOARDS_FN), so each counts exactly once and ingest never
        waits. Everything is swapped in by one MULTI of O(1) UNLINK/RENAMEs that also
        ends the double-writes: readers see either the old scores or the new ones. Points
        of days already past retention stay in the week/month/all-time sets.

        `progress(done, total)` is called after each day and each week/month/all-time set.
        Raises RuntimeError if another rebuild is running, RebuildAborted if the
        configuration changed meanwhile (run it again with the new one).
        """
        k = self.keys
        if version is None:
            version = int(self.r.get(k.key("config", "version")) or 0)
        token = uuid.uuid4().hex
        prefix = self.zkey("tokens", Bucket("d", ""))
        days = sorted(date.fromisoformat(x.decode()[len(prefix):])
                      for x in self.r.scan_iter(match=prefix + "*", count=1000))
        state = [k.rebuild(), k.rebuild("days"), k.rebuild("copy")]
        if not int(self._rebuild_start(keys=state[:2], args=[
                token, version, metric, REBUILD_LOCK_TTL, *(d.isoformat() for d in days)])):
            raise RuntimeError("another rebuild is running")
        scopes = ("w", "m", "a") if metric == "points" else ("w", "m")
        rules = scoring_rules(config)
        periods = dict.fromkeys(b for day in days for b in buckets_for_day(day)[1:]
                                if b.scope in scopes)
        steps = len(days) + len(periods)
        swaps: list[tuple[str, str]] = []
        stats = {"days": 0, "person_days": 0, "buckets": 0}
        try:
            for i, day in enumerate(days):
                self._still_ours(state, token)
                day_b, *rest = buckets_for_day(day)
                rest = [b for b in rest if b.scope in scopes]
                live = self.zkey(metric, day_b)
                self._rescore_day(day, [*state[:2], k.key("config", "version"), k.days(day),
                                        live, live + ":rebuild",
                                        *(self.zkey(metric, b) + ":rebuild" for b in rest)],
                                  [version, day.isoformat(), 0, REBUILD_BUCKETS, rules, metric])
                swaps.append((live + ":rebuild", live))
                stats["days"] += 1
                if progress:
                    progress(i + 1, steps)
            for i, bucket in enumerate(periods, start=len(days)):
                self._still_ours(state, token)
                live = self.zkey(metric, bucket)
                self._copy_scores(live, version, state)
                swaps.append((live + ":rebuild", live))
                if progress:
                    progress(i + 1, steps)
            pipe = self.r.pipeline(transaction=False)
            for tmp, _ in swaps[:stats["days"]]:
                pipe.zcard(tmp)
            stats["person_days"] = sum(pipe.execute())
            self._still_ours(state, token)
            self._swap(swaps, drop=state + [tmp + ":new" for tmp, _ in swaps[stats["days"]:]])
            stats["buckets"] = len(swaps)
        finally:
            self._rebuild_release(keys=state + [tmp for tmp, _ in swaps]
                                  + [tmp + ":new" for tmp, _ in swaps], args=[token])
        return stats

    def _still_ours(self, state: list[str], token: str) -> None:
        """Refresh the rebuild's expiry; RebuildAborted if it expired (writes stopped
        mirroring into its sets, so they cannot be swapped in)."""
        pipe = self.r.pipeline(transaction=False)
        pipe.hget(state[0], "token")
        for key in state:
            pipe.expire(key, REBUILD_LOCK_TTL)
        if pipe.execute()[0] != token.encode():
            raise RebuildAborted("the rebuild's state expired")

    def _rescore_day(self, day: date, keys: list[str], args: list) -> None:
        """Phase 1 for one day: RESCORE_LUA over all its buckets, pipelined."""
        done = 0
        while done != DONE:  # one call per round trip: ingest gets Redis in between
            done = int(self._rescore(keys=keys, args=[*args[:2], done, *args[3:]]))
            if done < 0:
                raise RebuildAborted("the configuration changed during the rebuild")

    def _copy_scores(self, live: str, version: int, state: list[str]) -> None:
        """Phase 2 for one week/month/all-time set: copy everyone's live score."""
        tmp = live + ":rebuild"
        keys = [state[0], state[2], self.keys.key("config", "version"), live, tmp,
                tmp + ":new"]
        # From here on, people new to the live set are mirrored (see _BOARDS_FN)
        if int(self._rebuild_copy(keys=keys, args=[version, -1])) < 0:
            raise RebuildAborted("the configuration changed during the rebuild")
        people = sorted((user_hash(u), u) for u in self._scores(live))
        start = 0
        while start < len(people):  # one call per round trip, as above
            end = min(start + REBUILD_COPY, len(people))
            while end < len(people) and people[end][0] == people[end - 1][0]:
                end += 1  # one user hash never straddles two calls
            if int(self._rebuild_copy(keys=keys, args=[version, people[end - 1][0],
                                                       *(u for _, u in people[start:end])])) < 0:
                raise RebuildAborted("the configuration changed during the rebuild")
            start = end

    def _scores(self, key: str) -> dict[str, float]:
        size = int(self.r.zcard(key))
        pipe = self.r.pipeline(transaction=False)
        for start in range(0, size, READ_CHUNK):
            pipe.zrange(key, start, start + READ_CHUNK - 1, withscores=True)
        return {m.decode(): v for page in pipe.execute() for m, v in page}

    def _swap(self, swaps: list[tuple[str, str]], drop: Sequence[str] = ()) -> None:
        """Rename each existing temporary set over its live one (keeping the live TTL) and
        unlink `drop`, in one MULTI."""
        pipe = self.r.pipeline(transaction=False)
        for tmp, dest in swaps:
            pipe.exists(tmp)
            pipe.pttl(dest)
        answers = pipe.execute()
        ready = [(pair, ttl) for pair, exists, ttl in zip(swaps, answers[::2], answers[1::2],
                                                          strict=True) if exists]
        pipe = self.r.pipeline(transaction=True)
        for (tmp, dest), ttl in ready:
            pipe.unlink(dest)  # freed in the background, not on Redis's main thread
            pipe.rename(tmp, dest)
            if ttl > 0:
                pipe.pexpire(dest, ttl)
            else:
                pipe.persist(dest)
        if drop:
            pipe.unlink(*drop)
        pipe.incr(self.key("gen"))
        pipe.execute()

    # -- the raw metric's day, week and month sets -----------------------------------------
    def raw_sets(self) -> str:
        """The raw metric whose day, week and month sets are complete ("tokens": always)."""
        return (self.r.get(self.key("config", "raw")) or b"tokens").decode()

    def sync_raw_sets(self, config: BoardConfig, version: int,
                      progress: Callable[[int, int], None] | None = None
                      ) -> dict[str, int] | None:
        """Make the day, week and month sets of `config.raw_metric` complete (a rebuild of
        that metric from the day counts) and drop those of a raw metric no longer chosen.
        Returns the rebuild's stats, or None if nothing had to be built."""
        built, wanted = self.raw_sets(), config.raw_metric
        stats = None
        if wanted != built and wanted in RAW_METRICS:
            stats = self.rebuild_points(config, progress, metric=wanted, version=version)
        if built != wanted and built in RAW_METRICS:
            doomed = [key for scope in "dwm" for key in self.r.scan_iter(
                match=self.zkey(built, Bucket(scope, "")) + "*", count=1000)]
            for start in range(0, len(doomed), 500):
                self.r.unlink(*doomed[start:start + 500])
        self.r.set(self.key("config", "raw"), wanted)
        return stats

    # -- which sources have reported -------------------------------------------------------
    def heard(self, source: str) -> None:
        """Remember that `source` (ingest, otlp, github, gitlab, pagerduty, slack) just
        delivered a report; written at most every HEARD_EVERY seconds per process."""
        now = _time.time()
        if now - self._heard.get(source, 0.0) < HEARD_EVERY:
            return
        self._heard[source] = now
        self.r.hset(self.key("heard"), source, round(now, 3))

    def heard_from(self) -> dict[str, float]:
        """source → when it last delivered a report (epoch s)."""
        return {k.decode(): float(v) for k, v in self.r.hgetall(self.key("heard")).items()}

    # -- privacy --------------------------------------------------------------------------
    def opted_out(self) -> frozenset[str]:
        return frozenset(m.decode() for m in self.r.smembers(self.key("optout")))

    def set_opt_out(self, user: str, out: bool) -> None:
        pipe = self.r.pipeline(transaction=True)
        (pipe.sadd if out else pipe.srem)(self.key("optout"), user)
        pipe.incr(self.key("gen"))
        pipe.execute()

    def forget_user(self, user: str) -> int:
        """Delete everything stored about `user`; returns how many keys or entries went.

        SCANs the sorted sets in small steps (never a blocking KEYS) and removes the person
        from each; the day sets name the days whose counts to delete, so the day buckets
        need no scan of their own.
        """
        removed = 0
        days_prefix = self.zkey("tokens", Bucket("d", ""))
        doomed = [self.key("user", user), self.keys.rank_chart(user)]
        pipe = self.r.pipeline(transaction=False)
        for raw_key in self.r.scan_iter(match=self.key("z", "*"), count=1000):
            key = raw_key.decode()
            pipe.zrem(key, user)
            if key.startswith(days_prefix) and not key.endswith(":rebuild"):
                day = date.fromisoformat(key[len(days_prefix):])  # a day with counts
                self._day_forget(keys=[self.days_key(day)], args=[user], client=pipe)
            if len(pipe) >= 1000:
                removed += sum(pipe.execute())
        removed += sum(pipe.execute())
        emails = list(self.r.scan_iter(match=self.key("email", "*"), count=1000))
        for start in range(0, len(emails), 500):
            batch = emails[start:start + 500]
            doomed += [k for k, v in zip(batch, self.r.mget(batch), strict=True)
                       if v == user.encode()]
        for start in range(0, len(doomed), 500):
            removed += self.r.unlink(*doomed[start:start + 500])
        # identity links to the person, and their pending claims
        links = [k for k, v in self.r.hscan_iter(self.key("ident"), count=1000)
                 if v == user.encode()]
        claims = [k for k in self.r.hkeys(self.key("claims"))
                  if k.decode().endswith(f"|{user}")]
        if links:
            removed += self.r.hdel(self.key("ident"), *links)
        if claims:
            removed += self.r.hdel(self.key("claims"), *claims)
        pipe = self.r.pipeline(transaction=True)
        pipe.srem(self.key("optout"), user)
        pipe.incr(self.key("gen"))
        pipe.execute()
        return removed

    # -- daily digest: exactly once per (workspace, channel, date) -------------------------
    def _digest_key(self, channel: str, day: date, what: str) -> str:
        return self.key("digest", channel, day.isoformat(), what)

    def claim_digest(self, channel: str, day: date, owner: str, ttl: int) -> bool:
        """Take the right to post this digest for `ttl` seconds (expires if we die)."""
        return bool(self.r.set(self._digest_key(channel, day, "claim"), owner, nx=True, ex=ttl))

    def release_digest(self, channel: str, day: date, owner: str) -> None:
        """Give the claim back, only if it is still ours."""
        self._release(keys=[self._digest_key(channel, day, "claim")], args=[owner])

    def digest_posted(self, channel: str, day: date) -> str | None:
        ts = self.r.get(self._digest_key(channel, day, "posted"))
        return ts.decode() if ts else None

    def mark_digest_attempt(self, channel: str, day: date) -> bool:
        """Record that a post is about to be sent; True if an earlier attempt was recorded."""
        old = self.r.set(self._digest_key(channel, day, "attempt"), "1", ex=DIGEST_KEEP,
                         get=True)
        return old is not None

    def last_digest_at(self) -> float | None:
        """When any digest was last posted (epoch seconds), None if never."""
        value = self.r.get(self.key("digest", "last_at"))
        return float(value) if value else None

    def mark_digest_posted(self, channel: str, day: date, ts: str) -> None:
        pipe = self.r.pipeline(transaction=True)
        pipe.set(self.key("digest", "last_at"), time_now())
        pipe.set(self._digest_key(channel, day, "posted"), ts, ex=DIGEST_KEEP)
        pipe.delete(self._digest_key(channel, day, "claim"))
        pipe.execute()

    def record_published_rho(self, day: date, context: object, rho: float | None) -> None:
        """Keep the ρ a digest published for `day`, tagged with what it was computed under
        (configuration and hidden people), so the next day's digest can reuse it."""
        tag = hashlib.sha1(repr(context).encode()).hexdigest()
        self.r.set(self.key("digest", "rho", day.isoformat()), json.dumps([tag, rho]),
                   ex=DIGEST_KEEP)

    def published_rho(self, day: date, context: object) -> tuple[float | None] | None:
        """(ρ,) as published for `day` under the same context, or None if not known."""
        raw = self.r.get(self.key("digest", "rho", day.isoformat()))
        if not raw:
            return None
        tag, rho = json.loads(raw)
        if tag != hashlib.sha1(repr(context).encode()).hexdigest():
            return None
        return (rho,)

    def set_digest_error(self, message: str, channel: str = "", day: date | None = None
                         ) -> None:
        """Show `message` to admins; with channel and day, also stop automatic retries of
        that digest (a manual `tokenboard digest` still tries)."""
        pipe = self.r.pipeline(transaction=True)
        pipe.set(self.key("digest", "error"), message)
        if channel and day:
            pipe.set(self._digest_key(channel, day, "failed"), message, ex=DIGEST_KEEP)
        pipe.execute()

    def digest_failed(self, channel: str, day: date) -> bool:
        return bool(self.r.exists(self._digest_key(channel, day, "failed")))

    def clear_digest_error(self) -> None:
        self.r.delete(self.key("digest", "error"))

    def digest_error(self) -> str | None:
        value = self.r.get(self.key("digest", "error"))
        return value.decode() if value else None

    def dump_keys(self) -> list[str]:
        """Every key of this workspace (tests and diagnostics only: uses SCAN)."""
        return sorted(k.decode() for k in self.r.scan_iter(match=self.key("*"), count=1000))
