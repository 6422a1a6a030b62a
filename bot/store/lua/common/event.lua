-- What the counting scripts (record.lua, credit.lua) share: the event being counted (`E`),
-- the boards of one person-day, a running rebuild, and what one script call remembers so
-- that each key is expired, each directory read and each person's teams looked up once
-- per call, however many events the call counts.
--
-- E (set by the script before each event):
--   user      member (Slack user, or the identity when unmapped); mapped: boolean
--   day       the day (ISO); ttl = {ids, day, d, w, m} (seconds: event ids, day counts,
--             the day's, week's and month's boards)
--   ids       the sender's day directory of event ids (credit: the identity's day hash)
--   tools     the org's per-tool totals of the day (record.lua)
--   days      the day's directory of people's counts (unmapped: the identity's day hash)
--   boards    16 keys: tokens, cost, requests, points × d/w/m/a (false: not kept)
--   unmapped  unmapped totals; idays the identity's days; unmapped_last last-seen hash
-- C (set once per call): gen, rebuild (the rebuild state key), version (the caller's
--   configuration version), now (epoch s)
-- Statuses: 1 counted, 0 duplicate, -2 the caller's configuration is out of date (reload
-- it and retry), -3 the id was already used for different content (a conflict). Nothing
-- is written unless it is 1 (a cumulative series that did not grow only moves its state
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
local E, C = {}, {}
local TTL_AT = {'d', 'w', 'm'}
--#include common/teams.lua
local METRIC_AT = {'tokens', 'cost', 'requests', 'points'}
local rebuild_metric = nil
-- The metric a rebuild of this configuration version is rebuilding (false: none), read
-- once per call.
local function rebuilding_metric()
  if rebuild_metric == nil then
    local st = redis.call('HMGET', C.rebuild, 'version', 'metric')
    rebuild_metric = (st[1] == C.version) and st[2] or false
  end
  return rebuild_metric
end
local frozen_days = {}
local function day_frozen()
  local done = frozen_days[E.day]
  if done == nil then
    done = tonumber(redis.call('HGET', C.rebuild .. ':days', E.day) or '0')
    frozen_days[E.day] = done
  end
  return done > 0 and done < DONE
end
local function mirror(i, key, amount, day_bucket)
  local user = E.user
  local tmp = key .. ':rebuild'
  if (i - 1) % 4 == 0 then
    local done = tonumber(redis.call('HGET', C.rebuild .. ':days', E.day) or '-1')
    if day_bucket < done then redis.call('ZINCRBY', tmp, amount, user) end
    return
  end
  local cursor = redis.call('HGET', C.rebuild .. ':copy', key)
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
-- Add `amount` (or only make sure the person is there, with 0) to boards first..last
-- (1-16: tokens, cost, requests, points × d/w/m/a). A person who already has counts on
-- the day is in every board of the day already (the event that began their day put them
-- there, a rebuild puts everyone with counts in the sets it builds, and forgetting a
-- person deletes their days too): the scripts make sure of them only for a new day.
local function touch(first, last, amount, only_if_new, day_bucket)
  local user, boards, ttl = E.user, E.boards, E.ttl
  local rebuilt = rebuilding_metric()
  if only_if_new then amount = 0 end
  for i = first, last do
    local key = boards[i]
    if key then
      if rebuilt and rebuilt == METRIC_AT[math.floor((i - 1) / 4) + 1] then
        mirror(i, key, amount, day_bucket)
      end
      local teams = team_work(key)
      local team_new = teams and team_fresh(i, key)
      if only_if_new then
        redis.call('ZADD', key, 'NX', 0, user)
      else
        redis.call('ZINCRBY', key, amount, user)  -- a number: written exactly (%.17g)
      end
      if teams then team_touch(i, key, amount, team_new) end
      local scope = (i - 1) % 4
      if scope < 3 then expire_once(key, ttl[TTL_AT[scope + 1]]) end
    end
  end
end

local function keep_unmapped(amount)
  redis.call('ZINCRBY', E.unmapped, amount, E.user)
  redis.call('SADD', E.idays, E.day)
  expire_once(E.idays, E.ttl.ids)
  redis.call('HSET', E.unmapped_last, E.user, C.now)
end
-- A person's day keeps at most MAX_MODELS models (`m:<model>`, bot.core.tools): the
-- tokens of any other model go to `m:other`.
local MAX_MODELS = 3
local function models_in(day)
  local seen = 0
  for name in pairs(day) do
    if string.sub(name, 1, 2) == 'm:' and name ~= 'm:other' then seen = seen + 1 end
  end
  return seen
end
-- Add `adds` into `after` (a copy of `before`), a model new to the day beyond the first
-- MAX_MODELS going to `m:other` (the day's models are counted only when one is new).
local function add_capped(before, after, adds)
  local seen = nil
  for name, x in pairs(adds) do
    if not before[name] and string.sub(name, 1, 2) == 'm:' and name ~= 'm:other' then
      seen = seen or models_in(before)
      if seen < MAX_MODELS then seen = seen + 1 else name = 'm:other' end
    end
    after[name] = (after[name] or 0) + x
  end
end
-- Add `adds` (name → amount) to the person's (or identity's) day; returns the counts
-- before, after, and the person's bucket index (-1 unmapped).
local function add_to_day(adds)
  if not E.mapped then
    for name, x in pairs(adds) do
      if name == 'cost' then
        redis.call('HINCRBYFLOAT', E.days, name, string.format('%.17g', x))
      else
        redis.call('HINCRBY', E.days, name, string.format('%d', x))
      end
    end
    expire_once(E.days, E.ttl.day)
    return nil, nil, -1
  end
  local user = E.user
  local st, b, key = day_find(E.days, user)
  local before, pieces = day_read(key, user)
  local after = {}
  for name, x in pairs(before) do after[name] = x end
  add_capped(before, after, adds)
  local added = day_write(key, user, after, pieces)
  expire_once(key, E.ttl.day)
  lh_grow(E.days, st, added, E.ttl.day, user_hash, day_frozen, DAYS_LOAD)
  return before, after, b
end
