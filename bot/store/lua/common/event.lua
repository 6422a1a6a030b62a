-- What the counting scripts (usage.lua, outcome.lua, credit.lua) share: the layout of
-- their KEYS and first ARGV, the boards of one person-day, and a running rebuild.
--
-- KEYS: 1 the sender's day directory of event ids (credit: the identity's day hash),
--       2 the day's directory of people's counts (unmapped: the identity's day hash),
--       3-6 tokens d/w/m/a, 7-10 cost, 11-14 requests, 15-18 points (KEYS[22] = not
--       kept), 19 gen, 20 rebuild state, 21 config version, 22 `none`, a key never written
--       (the placeholder for a set that is not kept), 23 unmapped totals,
--       24 the identity's days, 25 unmapped last-seen
-- ARGV: 1 member (Slack user, or identity when unmapped), 2 event-id ttl, 3 day ttl,
--       4-6 ttl d/w/m, 7 config version the caller scored with, 8 content fingerprint,
--       9 '1' mapped / '0' unmapped, 10 the day (ISO), 11 now (epoch s), then per script.
-- (bot.store.events builds them: EventKeys, EventArgs.)
-- Returns 1 counted, 0 duplicate, -2 the caller's configuration is out of date (reload it
-- and retry), -3 the id was already used for different content (a conflict). Nothing is
-- written unless it returns 1 (a cumulative series that did not grow only moves its state
-- forward).
--
-- A rebuild (bot.store.rescoring) of one metric with configuration version V builds
-- temporary sets `<set>:rebuild`. An event scored with V also writes there, exactly where
-- the rebuild would otherwise miss it: into a day's set once the rebuild has rescored the
-- person's bucket of that day (`rebuild:days`: day -> buckets done), into a week's, month's
-- or all-time set once the rebuild has copied the person's current score there
-- (`rebuild:copy`: set -> highest user hash copied) or when the person is new to that set
-- since the copying began (`<set>:rebuild:new`).
--#include common/buckets.lua
--#include common/day.lua
--#include common/points.lua
--#include common/rebuild.lua
if (redis.call('GET', KEYS[21]) or '0') ~= ARGV[7] then return -2 end
local user = ARGV[1]
local mapped = ARGV[9] == '1'
--#include common/teams.lua
local METRIC_AT = {'tokens', 'cost', 'requests', 'points'}
local rebuild_metric = nil
local function rebuilding(i)
  if rebuild_metric == nil then
    local st = redis.call('HMGET', KEYS[20], 'version', 'metric')
    rebuild_metric = (st[1] == ARGV[7]) and st[2] or false
  end
  return rebuild_metric == METRIC_AT[math.floor((i - 3) / 4) + 1]
end
local function day_frozen()
  local done = tonumber(redis.call('HGET', KEYS[20] .. ':days', ARGV[10]) or '0')
  return done > 0 and done < DONE
end
local function mirror(i, key, amount, day_bucket)
  local tmp = key .. ':rebuild'
  if (i - 3) % 4 == 0 then
    local done = tonumber(redis.call('HGET', KEYS[20] .. ':days', ARGV[10]) or '-1')
    if day_bucket < done then redis.call('ZINCRBY', tmp, amount, user) end
    return
  end
  local cursor = redis.call('HGET', KEYS[20] .. ':copy', key)
  if not cursor then return end
  local fresh = tmp .. ':new'
  if user_hash(user) <= tonumber(cursor) or redis.call('SISMEMBER', fresh, user) == 1 then
    redis.call('ZINCRBY', tmp, amount, user)
  elseif not redis.call('ZSCORE', key, user) then
    redis.call('ZINCRBY', tmp, amount, user)
    redis.call('SADD', fresh, user)
    redis.call('EXPIRE', fresh, TMP_TTL)
  end
end
-- Add `amount` (or only make sure the person is there, with 0) to boards first..last.
local function touch(first, last, amount, only_if_new, day_bucket)
  for i = first, last do
    local key = KEYS[i]
    if key ~= KEYS[22] then
      if rebuilding(i) then mirror(i, key, only_if_new and 0 or amount, day_bucket) end
      local team_new = team_fresh(i, key)
      if only_if_new then
        redis.call('ZADD', key, 'NX', 0, user)
      else
        redis.call('ZINCRBY', key, amount, user)
      end
      team_touch(i, key, only_if_new and 0 or amount, team_new)
      local ttl = ARGV[4 + ((i - 3) % 4)]
      if (i - 3) % 4 < 3 then redis.call('EXPIRE', key, ttl) end
    end
  end
end

local function keep_unmapped(amount)
  redis.call('ZINCRBY', KEYS[23], amount, user)
  redis.call('SADD', KEYS[24], ARGV[10])
  redis.call('EXPIRE', KEYS[24], ARGV[2])
  redis.call('HSET', KEYS[25], user, ARGV[11])
end
-- A person's day keeps at most MAX_MODELS models (`m:<model>`, bot.core.tools): the
-- tokens of any other model go to `m:other`.
local MAX_MODELS = 3
local function cap_models(before, adds)
  local seen = 0
  for name in pairs(before) do
    if string.sub(name, 1, 2) == 'm:' and name ~= 'm:other' then seen = seen + 1 end
  end
  local out = {}
  for name, x in pairs(adds) do
    if string.sub(name, 1, 2) == 'm:' and name ~= 'm:other' and not before[name] then
      if seen < MAX_MODELS then seen = seen + 1 else name = 'm:other' end
    end
    out[name] = (out[name] or 0) + x
  end
  return out
end
-- Add `adds` (name → amount) to the person's (or identity's) day; returns the counts
-- before, after, and the person's bucket index (-1 unmapped).
local function add_to_day(adds)
  if not mapped then
    for name, x in pairs(adds) do
      if name == 'cost' then
        redis.call('HINCRBYFLOAT', KEYS[2], name, string.format('%.17g', x))
      else
        redis.call('HINCRBY', KEYS[2], name, string.format('%d', x))
      end
    end
    redis.call('EXPIRE', KEYS[2], ARGV[3])
    return nil, nil, -1
  end
  local st, b, key = day_find(KEYS[2], user)
  local before, pieces = day_read(key, user)
  local after = {}
  for name, x in pairs(before) do after[name] = x end
  for name, x in pairs(cap_models(before, adds)) do after[name] = (after[name] or 0) + x end
  local added = day_write(key, user, after, pieces)
  redis.call('EXPIRE', key, ARGV[3])
  lh_grow(KEYS[2], st, added, ARGV[3], user_hash, day_frozen, DAYS_LOAD)
  return before, after, b
end
