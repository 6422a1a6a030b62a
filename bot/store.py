"""Counting and reading in Redis: the ingest scripts, the period boards, configuration,
rescoring, privacy and digest bookkeeping. Key names come from `bot.keys`.

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

from bot.config import BoardConfig
from bot.counts import Outcome, Usage, report_fingerprint, usage_from_report
from bot.keys import Keys
from bot.periods import Bucket, buckets_for_day, local_date
from bot.ranking import Totals
from bot.redis_cluster import workspace_client
from bot.reports import OutcomeReport, UsageReport

METRICS = ("tokens", "cost", "requests", "points")
COUNTED, DUPLICATE, REBUILDING, STALE_CONFIG, CONFLICT = 1, 0, -1, -2, -3
USAGE, OUTCOME = "usage", "outcome"
HEARD_EVERY = 10.0  # seconds between "this source reported" writes per source and process
SERIES_TTL = 35 * 86400  # a cumulative series silent this long starts afresh
READ_CHUNK = 1000  # ZRANGE page: well under 1 ms of Redis time, far below the 10 ms budget
NAME_TTL = 24 * 3600
DIGEST_KEEP = 40 * 86400  # how long "this digest was posted" is remembered
CONFIG_HISTORY = 200  # audit entries kept
REBUILD_CHUNK = 100  # people per rescoring script call: about 1 ms of Redis time
REBUILD_LOCK_TTL = 300  # refreshed as the rebuild progresses; frees ingest if we die
# KEYS: 1 new (temporary) day points set, 2.. day hashes
# ARGV: 1 JSON [RULES, MODS] (see _POINTS_FN), 2.. the people, in KEYS order
# Writes each person's day points into KEYS[1] and returns them, in order.
# Outcome points of one person-day, from the raw counts of its day hash. A kind's counts
# sit in `o:<kind>` (plain) and `o:<kind>~<mods>` (mods: '+'-joined among small, self,
# revert). Each modified count is scaled by the product of its fractions; reverted counts
# are taken back: points = weight × (F(kept) − F(reverted)) with F(x) = transform(min(x, cap))
# and x never below 0. RULES: {kind: [weight, cap (0 = none), transform]}; MODS: {mod: fraction}.
_POINTS_FN = """
local function transform(x, rule)
  if x < 0 then x = 0 end
  if rule[2] > 0 and x > rule[2] then x = rule[2] end
  if rule[3] == 'sqrt' then return math.sqrt(x) end
  if rule[3] == 'log' then return math.log(1 + x) end
  return x
end
local function day_points(fields, rules, mods, only_kind)
  local kept, reverted = {}, {}
  for j = 1, #fields, 2 do
    local name = fields[j]
    if string.sub(name, 1, 2) == 'o:' then
      local kind, suffix = string.match(string.sub(name, 3), '^([^~]+)~?(.*)$')
      if rules[kind] and (not only_kind or kind == only_kind) then
        local x, back = tonumber(fields[j + 1]), false
        for mod in string.gmatch(suffix, '[^+]+') do
          if mod == 'revert' then back = true else x = x * (mods[mod] or 1) end
        end
        if back then reverted[kind] = (reverted[kind] or 0) + x
        else kept[kind] = (kept[kind] or 0) + x end
      end
    end
  end
  local points = 0
  for kind, rule in pairs(rules) do
    if kept[kind] or reverted[kind] then
      points = points + rule[1] * (transform(kept[kind] or 0, rule)
                                   - transform(reverted[kind] or 0, rule))
    end
  end
  return points
end
"""

RESCORE_LUA = _POINTS_FN + """
local config = cjson.decode(ARGV[1])
local out, zargs = {}, {}
for i = 2, #KEYS do
  local points = day_points(redis.call('HGETALL', KEYS[i]), config[1], config[2], nil)
  local text = string.format('%.17g', points)
  out[#out + 1] = text
  zargs[#zargs + 1] = text
  zargs[#zargs + 1] = ARGV[i]
end
if #zargs > 0 then redis.call('ZADD', KEYS[1], unpack(zargs)) end
redis.call('EXPIRE', KEYS[1], 7200)
return out
"""
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

# KEYS: 1 the sender's day hash of event ids, 2 day hash (a person's, or an unmapped
#       identity's), 3-6 tokens d/w/m/a, 7-10 cost, 11-14 requests, 15-18 points, 19 gen,
#       20 rebuild lock, 21 config version, 22 series state, 23 unmapped totals,
#       24 the identity's days, 25 unmapped last-seen
# ARGV: 1 member (Slack user, or identity when unmapped), 2 event-id hash ttl, 3 day ttl,
#       4-6 ttl d/w/m, 7 config version the caller scored with, 8 content fingerprint,
#       9 '1' mapped / '0' unmapped, 10 the day (ISO), 11 now (epoch s), then per type.
# Returns 1 counted, 0 duplicate, -1 scores are being rebuilt (retry later), -2 the
# caller's configuration is out of date (reload it and retry), -3 the id was already
# used for different content (a conflict). Nothing is written unless it returns 1
# (a cumulative series that did not grow only moves its state forward).
_COMMON = """
if redis.call('EXISTS', KEYS[20]) == 1 then return -1 end
if (redis.call('GET', KEYS[21]) or '0') ~= ARGV[7] then return -2 end
local user = ARGV[1]
local mapped = ARGV[9] == '1'
-- Event ids are grouped per sender and local day in one hash (KEYS[1]: id → content
-- fingerprint) with one expiry: a retry finds its id there; other content is a conflict.
local function claim(id)
  if redis.call('HSETNX', KEYS[1], id, ARGV[8]) == 1 then
    redis.call('EXPIRE', KEYS[1], ARGV[2])
    return 1
  end
  if redis.call('HGET', KEYS[1], id) == ARGV[8] then return 0 end
  return -3
end
local function touch(first, last, amount, only_if_new)
  for i = first, last do
    if only_if_new then
      redis.call('ZADD', KEYS[i], 'NX', 0, user)
    else
      redis.call('ZINCRBY', KEYS[i], amount, user)
    end
    local ttl = ARGV[4 + ((i - 3) % 4)]
    if ttl and (i - 3) % 4 < 3 then redis.call('EXPIRE', KEYS[i], ttl) end
  end
end
local function keep_unmapped(amount)
  redis.call('ZINCRBY', KEYS[23], amount, user)
  redis.call('SADD', KEYS[24], ARGV[10])
  redis.call('EXPIRE', KEYS[24], ARGV[2])
  redis.call('HSET', KEYS[25], user, ARGV[11])
end
"""

USAGE_LUA = _COMMON + """
-- Several usage reports of one person (or identity) and local day, in one call: each has
-- its own marker (KEYS[25 + p]: the sender's day hash of event ids, or a cumulative
-- series' state) and status; the day's counters and boards are written once for all that
-- counted.
-- ARGV: 12 series state ttl, 13 number of parts, then per part: kind ('d' one-off or
--       delta, 'c' cumulative, 'r' a vendor's daily row that replaces the previous one;
--       its marker is the row's state), fingerprint, value, series start ('d': the event id),
--       point time (both zero-padded to 20 digits), number of fields, then field,
--       amount-per-unit pairs.
-- Returns one status per part (see above).
local board = {tokens = 0, cost = 0, requests = 0}
local statuses = {}
local pos, counted = 14, false
for p = 1, tonumber(ARGV[13]) do
  local key, kind, fp = KEYS[25 + p], ARGV[pos], ARGV[pos + 1]
  local v, start, t, nf = tonumber(ARGV[pos + 2]), ARGV[pos + 3], ARGV[pos + 4],
                          tonumber(ARGV[pos + 5])
  local status, adds = 1, {}
  if kind == 'c' then
    -- A cumulative series: its state replaces the dedupe marker. A new start time is a
    -- reset; a point not newer than the last one is a replay and adds nothing.
    local st = redis.call('HMGET', key, 's', 't', 'v')
    if not st[1] or start > st[1] then
      redis.call('HSET', key, 's', start, 't', t, 'v', ARGV[pos + 2])
    elseif start < st[1] or t <= st[2] then status = 0
    else
      if v >= tonumber(st[3]) then v = v - tonumber(st[3]) end
      redis.call('HSET', key, 's', start, 't', t, 'v', ARGV[pos + 2])
    end
    if status == 1 then redis.call('EXPIRE', key, ARGV[12]) end
    if v <= 0 then status = 0 end
  elseif kind == 'r' then
    -- A vendor's daily row: it replaces what the same source said before for this
    -- identity and day (KEYS: the row's state, field → amount), so the day changes by
    -- the difference, per field, up or down; an identical row adds nothing.
    local prev, state = {}, redis.call('HGETALL', key)
    for j = 1, #state, 2 do prev[state[j]] = tonumber(state[j + 1]) end
    local row = {}
    for f = 1, nf do
      local field = ARGV[pos + 4 + 2 * f]
      local amount = tonumber(ARGV[pos + 5 + 2 * f]) * v
      row[#row + 1] = field
      row[#row + 1] = string.format('%.17g', amount)
      local before = prev[field] or 0
      if amount ~= before then adds[#adds + 1] = {field, amount - before} end
      prev[field] = nil
    end
    for field, amount in pairs(prev) do
      if amount ~= 0 then adds[#adds + 1] = {field, -amount} end
    end
    if #adds == 0 then status = 0
    else
      redis.call('DEL', key)
      if #row > 0 then redis.call('HSET', key, unpack(row)) end
      redis.call('EXPIRE', key, ARGV[2])
    end
  elseif redis.call('HSETNX', key, start, fp) == 1 then
    redis.call('EXPIRE', key, ARGV[2])
  elseif redis.call('HGET', key, start) == fp then status = 0
  else status = -3 end
  if status == 1 and kind ~= 'r' then
    for f = 1, nf do
      adds[f] = {ARGV[pos + 4 + 2 * f], tonumber(ARGV[pos + 5 + 2 * f]) * v}
    end
  end
  if status == 1 then
    counted = true
    for _, add in ipairs(adds) do
      local field, amount = add[1], add[2]
      if field == 'cost' then
        redis.call('HINCRBYFLOAT', KEYS[2], field, string.format('%.17g', amount))
      else
        amount = math.floor(amount + 0.5)
        redis.call('HINCRBY', KEYS[2], field, string.format('%d', amount))
      end
      if board[field] then board[field] = board[field] + amount end
    end
  end
  statuses[p] = status
  pos = pos + 6 + 2 * nf
end
if not counted then return statuses end
redis.call('EXPIRE', KEYS[2], ARGV[3])
if not mapped then
  keep_unmapped(board.tokens)
  return statuses
end
touch(3, 6, string.format('%.17g', board.tokens), false)
touch(7, 10, string.format('%.17g', board.cost), false)
touch(11, 14, string.format('%.17g', board.requests), false)
touch(15, 18, 0, true)
redis.call('INCR', KEYS[19])
return statuses
"""

OUTCOME_LUA = _COMMON + _POINTS_FN + """
-- ARGV: 12 day-hash field (o:<kind> or o:<kind>~<mods>), 13 count (may be negative: a
--       revert), 14 kind, 15 JSON [RULES, MODS] for that kind, 16 the event id
local c = claim(ARGV[16])
if c ~= 1 then return c end
if not mapped then
  redis.call('HINCRBY', KEYS[2], ARGV[12], ARGV[13])
  redis.call('EXPIRE', KEYS[2], ARGV[3])
  keep_unmapped(ARGV[13])
  return 1
end
local config = cjson.decode(ARGV[15])
local before = day_points(redis.call('HGETALL', KEYS[2]), config[1], config[2], ARGV[14])
redis.call('HINCRBY', KEYS[2], ARGV[12], ARGV[13])
redis.call('EXPIRE', KEYS[2], ARGV[3])
local after = day_points(redis.call('HGETALL', KEYS[2]), config[1], config[2], ARGV[14])
touch(3, 14, 0, true)
touch(15, 18, string.format('%.17g', after - before), false)
redis.call('INCR', KEYS[19])
return 1
"""

# Credits an unmapped identity's day to the person it was just linked to.
# KEYS: 1 the identity's day hash, 2 the person's day hash, 3-18 boards as above, 19 gen,
#       20 rebuild lock, 21 config version
# ARGV: 1 user, 2 (unused), 3 day-hash ttl, 4-6 ttl d/w/m, 7 config version,
#       8 JSON [RULES, MODS] (see _POINTS_FN)
# Returns 1 credited, 0 nothing to credit, -1 rebuilding, -2 stale configuration.
CREDIT_LUA = _POINTS_FN + """
if redis.call('EXISTS', KEYS[20]) == 1 then return -1 end
if (redis.call('GET', KEYS[21]) or '0') ~= ARGV[7] then return -2 end
local fields = redis.call('HGETALL', KEYS[1])
if #fields == 0 then return 0 end
local user = ARGV[1]
local config = cjson.decode(ARGV[8])
local board = {tokens = 0, cost = 0, requests = 0}
local before = day_points(redis.call('HGETALL', KEYS[2]), config[1], config[2], nil)
for j = 1, #fields, 2 do
  local name, x = fields[j], fields[j + 1]
  if name == 'cost' then
    redis.call('HINCRBYFLOAT', KEYS[2], name, x)
    board.cost = tonumber(x)
  else
    redis.call('HINCRBY', KEYS[2], name, x)
    if board[name] then board[name] = tonumber(x) end
  end
end
redis.call('EXPIRE', KEYS[2], ARGV[3])
local points = day_points(redis.call('HGETALL', KEYS[2]), config[1], config[2], nil) - before
local function touch(first, last, amount)
  for i = first, last do
    redis.call('ZINCRBY', KEYS[i], amount, user)
    local ttl = ARGV[4 + ((i - 3) % 4)]
    if ttl and (i - 3) % 4 < 3 then redis.call('EXPIRE', KEYS[i], ttl) end
  end
end
touch(3, 6, string.format('%.17g', board.tokens))
touch(7, 10, string.format('%.17g', board.cost))
touch(11, 14, string.format('%.17g', board.requests))
touch(15, 18, string.format('%.17g', points))
redis.call('DEL', KEYS[1])
redis.call('INCR', KEYS[19])
return 1
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

    # -- keys -------------------------------------------------------------------------
    def key(self, *parts: str) -> str:
        return self.keys.key(*parts)

    def zkey(self, metric: str, bucket: Bucket) -> str:
        return self.keys.zkey(metric, bucket.scope, bucket.name)

    def day_key(self, day: date, user: str) -> str:
        return self.keys.day(day, user)

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

    def _event_keys(self, report: Usage | Outcome | OutcomeReport, who: str, sender: str
                    ) -> tuple[list, date]:
        """KEYS 1-25 of the counting scripts (see _COMMON) for `report` credited to `who`."""
        day = report_day(report, self.tz)
        k = self.keys
        if is_identity(who):
            metric = "tokens" if isinstance(report, Usage) else "outcomes"
            keys = [k.seen(sender, day), k.identity_day(day, who)] + [""] * 16
            tail = [k.unmapped(metric), k.identity_days(who), k.unmapped("last")]
        else:
            keys = [k.seen(sender, day), k.day(day, who)]
            keys += self._bucket_keys(day)
            tail = [k.key("unmapped", "none")] * 3
        keys += [k.key("gen"), k.key("rebuild"), k.key("config", "version"),
                 k.key("series", "none")] + tail
        return keys, day

    def _bucket_keys(self, day: date) -> list[str]:
        buckets = buckets_for_day(day)
        return [self.zkey(metric, b) for metric in METRICS for b in buckets]

    def record(self, reports: Sequence[tuple[Usage | Outcome | UsageReport | OutcomeReport,
                                             str]],
               config: BoardConfig, version: int = 0, sender: str = "default") -> list[int]:
        """Count each (report, who) once. `who` is a Slack user id, or an identity
        (`source:value`) that maps to nobody yet: then the counts are kept under the
        identity until an admin links it (see bot.identities). Event ids are scoped to
        `sender`. Per report: COUNTED, DUPLICATE, REBUILDING (scores are being rebuilt:
        retry later), STALE_CONFIG (`version` is not the stored configuration version:
        reload it and retry that report) or CONFLICT (the id was used before for other
        content).

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
                    keys, _ = self._event_keys(report, who, sender)
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
                    keys.append(self.keys.series(report.series) if cumulative else keys[0])
                args += ["r" if report.row else "c" if cumulative else "d",
                         report.fingerprint or "-",
                         repr(float(report.value)),
                         f"{report.start_ns:020d}" if cumulative else report.id,
                         f"{report.time_ns:020d}", len(report.fields)]
                for name, amount in report.fields:
                    args += [name, repr(float(amount))]
                args[12] += 1
                indices.append(index)
                continue
            keys, day = self._event_keys(report, who, sender)
            day_ttl, ttl_d, ttl_w, ttl_m = self._ttls(day)
            field = f"o:{report.kind}"
            modifiers = getattr(report, "modifiers", ())
            if modifiers:
                field += "~" + "+".join(sorted(modifiers))
            fingerprint = (report.fingerprint if isinstance(report, Outcome)
                           else report_fingerprint(report)) or "-"
            args = [who, day_ttl + 86400, day_ttl, ttl_d, ttl_w, ttl_m, version, fingerprint,
                    "0" if is_identity(who) else "1", day.isoformat(), now,
                    field, int(report.count), report.kind, scoring_rules(config, report.kind),
                    report.id]
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
        `config`). 1 credited, 0 nothing there, REBUILDING or STALE_CONFIG."""
        buckets = buckets_for_day(day)
        keys = [self.keys.identity_day(day, identity), self.day_key(day, user)]
        for metric in METRICS:
            keys += [self.zkey(metric, b) for b in buckets]
        keys += [self.key("gen"), self.key("rebuild"), self.key("config", "version")]
        day_ttl, ttl_d, ttl_w, ttl_m = self._ttls(day)
        rules = scoring_rules(config)
        return int(self._credit(keys=keys, args=[user, 0, day_ttl, ttl_d, ttl_w, ttl_m,
                                                 version, rules]))

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
        raw = self.r.hgetall(self.day_key(day, user))
        return {k.decode(): float(v) for k, v in raw.items()}

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
                       progress: Callable[[int, int], None] | None = None) -> dict[str, int]:
        """Recompute outcome points of every retained day, week, month and all-time from
        the raw per-day counts, with `config`'s rules.

        Ingest waits (answers 503) while this runs, so nothing is scored twice or lost.
        Day sets are rescored in chunks by a Lua script; week/month/all-time sets become
        old + Σ(new day − old day), which keeps points from days already past retention.
        Everything is built in temporary keys and swapped in by one MULTI of O(1)
        UNLINK/RENAME pairs, so readers see either the old scores or the new ones.
        """
        token = uuid.uuid4().hex
        lock = self.key("rebuild")
        if not self.r.set(lock, token, nx=True, ex=REBUILD_LOCK_TTL):
            raise RuntimeError("another rebuild is running")
        rules = scoring_rules(config)
        swaps: list[tuple[str, str]] = []
        stats = {"days": 0, "person_days": 0, "buckets": 0}
        try:
            prefix = self.zkey("tokens", Bucket("d", ""))
            days = sorted(date.fromisoformat(k.decode()[len(prefix):])
                          for k in self.r.scan_iter(match=prefix + "*", count=1000))
            open_deltas: dict[Bucket, dict[str, float]] = {}
            for i, day in enumerate(days):
                self.r.expire(lock, REBUILD_LOCK_TTL)
                day_b, week_b, month_b, all_b = buckets_for_day(day)
                for bucket in list(open_deltas):
                    if bucket not in (week_b, month_b, all_b):
                        swaps.append(self._rebuild_bucket(bucket, open_deltas.pop(bucket)))
                deltas = self._rescore_day(day, rules)
                swaps.append((self.zkey("points", day_b) + ":rebuild", self.zkey("points", day_b)))
                for bucket in (week_b, month_b, all_b):
                    acc = open_deltas.setdefault(bucket, {})
                    for user, delta in deltas.items():
                        acc[user] = acc.get(user, 0.0) + delta
                stats["days"] += 1
                stats["person_days"] += len(deltas)
                if progress:
                    progress(i + 1, len(days))
            for bucket in list(open_deltas):
                swaps.append(self._rebuild_bucket(bucket, open_deltas.pop(bucket)))
            self._swap(swaps)
            stats["buckets"] = len(swaps)
        finally:
            self._release(keys=[lock], args=[token])
            leftovers = [tmp for tmp, _ in swaps if self.r.exists(tmp)]
            if leftovers:
                self.r.unlink(*leftovers)
        return stats

    def _rescore_day(self, day: date, rules: str) -> dict[str, float]:
        """New minus current points of everyone active on `day` (new ones into a temp set)."""
        bucket = Bucket("d", day.isoformat())
        current = self._scores(self.zkey("points", bucket))
        tmp = self.zkey("points", bucket) + ":rebuild"
        self.r.unlink(tmp)
        members = list(current)
        deltas: dict[str, float] = {}
        pipe = self.r.pipeline(transaction=False)
        for start in range(0, len(members), REBUILD_CHUNK):
            chunk = members[start:start + REBUILD_CHUNK]
            keys = [tmp] + [self.day_key(day, u) for u in chunk]
            self._rescore(keys=keys, args=[rules, *chunk], client=pipe)
        for start, result in zip(range(0, len(members), REBUILD_CHUNK), pipe.execute(),
                                 strict=True):
            for user, new in zip(members[start:start + REBUILD_CHUNK], result, strict=True):
                deltas[user] = float(new) - current[user]
        return deltas

    def _scores(self, key: str) -> dict[str, float]:
        size = int(self.r.zcard(key))
        pipe = self.r.pipeline(transaction=False)
        for start in range(0, size, READ_CHUNK):
            pipe.zrange(key, start, start + READ_CHUNK - 1, withscores=True)
        return {m.decode(): v for page in pipe.execute() for m, v in page}

    def _rebuild_bucket(self, bucket: Bucket, deltas: dict[str, float]) -> tuple[str, str]:
        """Write old + deltas for a week/month/all-time bucket into its temporary key."""
        dest = self.zkey("points", bucket)
        tmp = dest + ":rebuild"
        scores = self._scores(dest)
        for user, delta in deltas.items():
            scores[user] = scores.get(user, 0.0) + delta
        self.r.unlink(tmp)
        items = list(scores.items())
        pipe = self.r.pipeline(transaction=False)
        for start in range(0, len(items), 1000):
            pipe.zadd(tmp, dict(items[start:start + 1000]))
        pipe.expire(tmp, 7200)
        pipe.execute()
        return tmp, dest

    def _swap(self, swaps: list[tuple[str, str]]) -> None:
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
        pipe.incr(self.key("gen"))
        pipe.execute()

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
        from each; the day sets name the days whose hashes to delete, so the far more
        numerous day hashes need no scan of their own.
        """
        removed = 0
        days_prefix = self.zkey("tokens", Bucket("d", ""))
        doomed = [self.key("user", user), self.keys.rank_chart(user)]
        pipe = self.r.pipeline(transaction=False)
        for raw_key in self.r.scan_iter(match=self.key("z", "*"), count=1000):
            key = raw_key.decode()
            pipe.zrem(key, user)
            if key.startswith(days_prefix):  # each day on record names a day hash
                doomed.append(self.day_key(date.fromisoformat(key[len(days_prefix):]), user))
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
