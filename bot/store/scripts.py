"""The Lua scripts that count, credit and rescore (run by `bot.store.store.Store`).

Shared pieces, in the order the scripts concatenate them:

- `_BUCKETS_FN`: one logical hash spread over small hashes by linear hashing, so every
  piece stays in Redis's compact listpack encoding (≤ 512 entries, 64-byte values) however
  large the logical hash grows. A directory hash `<dir>` holds l (level), s (split pointer)
  and n (entries); bucket `<dir>:<i>` holds the entries whose 32-bit hash h maps to i:
  `h mod 2^l`, or `h mod 2^(l+1)` when that is below s. When n passes the load per
  bucket (160 event ids; 64 entries of days, ~50 people, so that rescoring one bucket per
  call stays short), bucket s is split into s and s + 2^l (one HGETALL of a small hash).
  Used for the event ids of a sender's day (field: 8-byte id digest, value: 4-byte
  content fingerprint) and for the people's counts of a day (field: user id).
- `_DAY_FN`: a person's day as one packed text value in the day's buckets: `T1234,C0.5,
  R3,pr_merged=2,a:lines=7` (one-letter codes from `bot.core.counts.DAY_CODES`; outcome
  fields `o:<kind>` without their `o:`; other names as they are, or `:<name>` when they
  hold no colon). Text longer than a listpack value goes on in fields `<user>|1`, … and
  the first piece starts with the number of those.
- `_POINTS_FN`: outcome points of one person-day from its counts.
- `_BOARDS_FN`: the period sorted sets an event touches, and the double-write into a
  running rebuild's temporary sets (see `Store.rebuild_points`).
"""

from __future__ import annotations

from bot.core.counts import DAY_CODES
from bot.store.lua import load as load_lua

IDS_LOAD = 160  # mean event ids per bucket before a split: unsplit ones stay well < 512
DAYS_LOAD = 64  # mean entries of people's days per bucket: a rescoring call reads one bucket
DAY_PIECE = 63  # bytes of packed day text per piece (+ 1 digit: listpack keeps values ≤ 64)
# TEAMS HOOK: mirrors board changes into the person's teams' sets (bot/store/teams.py)
TEAM_HOOK_LUA = load_lua("team_hook")
DONE = 1_000_000_000  # a rebuilt day's progress: every bucket done
TMP_TTL = 7200  # a rebuild's temporary keys expire if it dies

_BUCKETS_FN = f"""
local IDS_LOAD, DAYS_LOAD = {IDS_LOAD}, {DAYS_LOAD}
local function lh_state(dir)
  local st = redis.call('HMGET', dir, 'l', 's')
  return {{l = tonumber(st[1] or '0'), s = tonumber(st[2] or '0')}}
end
local function lh_count(st) return 2 ^ st.l + st.s end
local function lh_index(st, h)
  local size = 2 ^ st.l
  local b = h % size
  if b < st.s then b = h % (2 * size) end
  return b
end
-- `added` entries went into dir's buckets: split the next bucket if the mean load passed
-- `load` (unless `frozen`: a rebuild is walking this dir's buckets). hash_of(field)
-- gives a field's 32-bit hash; ttl is the buckets' expiry.
local function lh_grow(dir, st, added, ttl, hash_of, frozen, load)
  if added == 0 then return end
  local n = redis.call('HINCRBY', dir, 'n', added)
  redis.call('EXPIRE', dir, ttl)
  if n <= load * lh_count(st) or (frozen and frozen()) then return end
  local size = 2 ^ st.l
  local from = dir .. ':' .. st.s
  local all = redis.call('HGETALL', from)
  local moved, names = {{}}, {{}}
  for j = 1, #all, 2 do
    if hash_of(all[j]) % (2 * size) ~= st.s then
      moved[#moved + 1] = all[j]
      moved[#moved + 1] = all[j + 1]
      names[#names + 1] = all[j]
    end
  end
  if #names > 0 then
    local to = dir .. ':' .. (st.s + size)
    redis.call('HSET', to, unpack(moved))
    redis.call('EXPIRE', to, ttl)
    redis.call('HDEL', from, unpack(names))
  end
  st.s = st.s + 1
  if st.s == size then st.l, st.s = st.l + 1, 0 end
  redis.call('HSET', dir, 'l', st.l, 's', st.s)
end
-- 32-bit hash of an id digest (its first 4 bytes) and of a user id (the day's field,
-- without a `|<k>` continuation suffix)
local function digest_hash(d)
  local a, b, c, e = string.byte(d, 1, 4)
  return ((a * 256 + b) * 256 + c) * 256 + e
end
local function user_hash(u)
  local bar = string.find(u, '|', 1, true)
  if bar then u = string.sub(u, 1, bar - 1) end
  return tonumber(string.sub(redis.sha1hex(u), 1, 8), 16)
end
-- Claim an event id (8-byte digest) in a sender's day: 1 new, 0 the same content seen
-- before, -3 the id was used for other content.
local function claim_id(dir, digest, fp, ttl)
  local st = lh_state(dir)
  local key = dir .. ':' .. lh_index(st, digest_hash(digest))
  if redis.call('HSETNX', key, digest, fp) == 1 then
    redis.call('EXPIRE', key, ttl)
    lh_grow(dir, st, 1, ttl, digest_hash, nil, IDS_LOAD)
    return 1
  end
  if redis.call('HGET', key, digest) == fp then return 0 end
  return -3
end
"""

_CODES_LUA = ", ".join(f"{name} = '{code}'" for name, code in DAY_CODES.items())
_NAMES_LUA = ", ".join(f"{code} = '{name}'" for name, code in DAY_CODES.items())

_DAY_FN = f"""
local DAY_CODES = {{{_CODES_LUA}}}
local DAY_NAMES = {{{_NAMES_LUA}}}
local DAY_PIECE = {DAY_PIECE}
local function day_num(x)
  if x == math.floor(x) and math.abs(x) < 1e15 then return string.format('%d', x) end
  local s = string.format('%.15g', x)
  if tonumber(s) ~= x then s = string.format('%.17g', x) end
  return s
end
local function day_item(name, x)
  local code = DAY_CODES[name]
  if code then return code .. day_num(x) end
  name = string.gsub(name, '[,=|]', '_')
  if string.sub(name, 1, 2) == 'o:' then name = string.sub(name, 3)
  elseif not string.find(name, ':', 1, true) then name = ':' .. name end
  return name .. '=' .. day_num(x)
end
local function day_decode(text, t)
  for item in string.gmatch(text, '[^,]+') do
    local eq = string.find(item, '=', 1, true)
    local name, x
    if eq then
      name, x = string.sub(item, 1, eq - 1), string.sub(item, eq + 1)
      if string.sub(name, 1, 1) == ':' then name = string.sub(name, 2)
      elseif not string.find(name, ':', 1, true) then name = 'o:' .. name end
    else
      name, x = DAY_NAMES[string.sub(item, 1, 1)], string.sub(item, 2)
    end
    if name then t[name] = (t[name] or 0) + tonumber(x) end
  end
  return t
end
-- A person's day from its first piece; piece(k) gives continuation k.
local function day_unpack(first, piece)
  local t = {{}}
  if not first then return t, 0 end
  local extra = tonumber(string.sub(first, 1, 1))
  day_decode(string.sub(first, 2), t)
  for k = 1, extra do day_decode(piece(k) or '', t) end
  return t, extra + 1
end
-- Only the outcome counts (`o:<kind>…`) of a person's day, without decoding the rest:
-- what rescoring points needs, several times faster than day_unpack.
local function day_outcomes(first, piece)
  local t = {{}}
  local extra = tonumber(string.sub(first, 1, 1))
  local text = ',' .. string.sub(first, 2)
  for k = 1, extra do text = text .. ',' .. (piece(k) or '') end
  for name, x in string.gmatch(text, ',([%w_~+]+)=([^,]*)') do
    t['o:' .. name] = (t['o:' .. name] or 0) + tonumber(x)
  end
  return t
end
local function day_read(key, user)
  local first = redis.call('HGET', key, user)
  local rest = {{}}
  if first and string.sub(first, 1, 1) ~= '0' then
    local names = {{}}
    for k = 1, tonumber(string.sub(first, 1, 1)) do names[k] = user .. '|' .. k end
    rest = redis.call('HMGET', key, unpack(names))
  end
  return day_unpack(first, function(k) return rest[k] end)
end
-- Write `t` as `user`'s day into bucket `key` (it had `old` pieces); returns how many
-- fields were added (negative: removed).
local function day_write(key, user, t, old)
  local pieces, cur = {{}}, ''
  for name, x in pairs(t) do
    local item = day_item(name, x)
    if cur == '' then cur = item
    elseif #cur + 1 + #item > DAY_PIECE and #pieces < 8 then
      pieces[#pieces + 1] = cur
      cur = item
    else cur = cur .. ',' .. item end
  end
  pieces[#pieces + 1] = cur
  local args = {{user, (#pieces - 1) .. pieces[1]}}
  for k = 2, #pieces do
    args[#args + 1] = user .. '|' .. (k - 1)
    args[#args + 1] = pieces[k]
  end
  local added = redis.call('HSET', key, unpack(args))
  if old > #pieces then
    local gone = {{}}
    for k = #pieces, old - 1 do gone[#gone + 1] = user .. '|' .. k end
    added = added - redis.call('HDEL', key, unpack(gone))
  end
  return added
end
-- The bucket of `user` in the day's directory `dir`: (state, bucket index, key)
local function day_find(dir, user)
  local st = lh_state(dir)
  local b = lh_index(st, user_hash(user))
  return st, b, dir .. ':' .. b
end
"""

# The buckets and the day codec, for tools that write days as the scripts do (benchmarks).
DAY_CODEC_LUA = _BUCKETS_FN + _DAY_FN

# Outcome points of one person-day, from its counts (a table name → number). A kind's
# counts sit in `o:<kind>` (plain) and `o:<kind>~<mods>` (mods: '+'-joined, see
# bot/core/outcome_rules.py; `env_<name>` falls back to MODS['env_']). Each modified count is
# scaled by the product of its fractions; reverted
# counts are taken back: points = weight × (F(kept) − F(reverted)) with
# F(x) = transform(min(x, cap)) and x never below 0.
# RULES: {kind: [weight, cap (0 = none), transform]}; MODS: {mod: fraction}.
_POINTS_FN = """
local function transform(x, rule)
  if x < 0 then x = 0 end
  if rule[2] > 0 and x > rule[2] then x = rule[2] end
  if rule[3] == 'sqrt' then return math.sqrt(x) end
  if rule[3] == 'log' then return math.log(1 + x) end
  return x
end
local function day_points(t, rules, mods, only_kind)
  local kept, reverted = {}, {}
  for name, x in pairs(t) do
    if string.sub(name, 1, 2) == 'o:' then
      local kind, suffix = string.match(string.sub(name, 3), '^([^~]+)~?(.*)$')
      if rules[kind] and (not only_kind or kind == only_kind) then
        local back = false
        for mod in string.gmatch(suffix, '[^+]+') do
          if mod == 'revert' then back = true
          else x = x * (mods[mod] or mods[string.match(mod, '^env_')] or 1) end
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
local function day_value(t, metric, config)
  if metric == 'points' then return day_points(t, config[1], config[2], nil) end
  return t[metric] or 0
end
"""

# The boards of one person-day, and a running rebuild. Needs: user, the KEYS layout of
# _COMMON (3-18 boards, KEYS[22] for a set that is not kept; 20 the rebuild state) and ARGV 4-6
# (ttl d/w/m), 7 (the caller's configuration version), 10 (the day).
# A rebuild (`Store.rebuild_points`) of one metric with configuration version V builds
# temporary sets `<set>:rebuild`. An event scored with V also writes there, exactly where
# the rebuild would otherwise miss it: into a day's set once the rebuild has rescored the
# person's bucket of that day (`rebuild:days`: day → buckets done), into a week's, month's
# or all-time set once the rebuild has copied the person's current score there
# (`rebuild:copy`: set → highest user hash copied) or when the person is new to that set
# since the copying began (`<set>:rebuild:new`).
_BOARDS_FN = f"""
local METRIC_AT = {{'tokens', 'cost', 'requests', 'points'}}
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
  return done > 0 and done < {DONE}
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
    redis.call('EXPIRE', fresh, {TMP_TTL})
  end
end
-- Add `amount` (or only make sure the person is there, with 0) to boards first..last.
local function touch(first, last, amount, only_if_new, day_bucket)
  for i = first, last do
    local key = KEYS[i]
    if key ~= KEYS[22] then
      if rebuilding(i) then mirror(i, key, only_if_new and 0 or amount, day_bucket) end
      local team_new = team_fresh(i, key)  -- TEAMS HOOK (bot/store/lua/team_hook.lua)
      if only_if_new then
        redis.call('ZADD', key, 'NX', 0, user)
      else
        redis.call('ZINCRBY', key, amount, user)
      end
      team_touch(i, key, only_if_new and 0 or amount, team_new)  -- TEAMS HOOK
      local ttl = ARGV[4 + ((i - 3) % 4)]
      if (i - 3) % 4 < 3 then redis.call('EXPIRE', key, ttl) end
    end
  end
end
"""

# KEYS: 1 the sender's day directory of event ids (credit: the identity's day hash),
#       2 the day's directory of people's counts (unmapped: the identity's day hash),
#       3-6 tokens d/w/m/a, 7-10 cost, 11-14 requests, 15-18 points (KEYS[22] = not
#       kept), 19 gen, 20 rebuild state, 21 config version, 22 `none`, a key never written
#       (the placeholder for a set that is not kept), 23 unmapped totals,
#       24 the identity's days, 25 unmapped last-seen
# ARGV: 1 member (Slack user, or identity when unmapped), 2 event-id ttl, 3 day ttl,
#       4-6 ttl d/w/m, 7 config version the caller scored with, 8 content fingerprint,
#       9 '1' mapped / '0' unmapped, 10 the day (ISO), 11 now (epoch s), then per script.
# Returns 1 counted, 0 duplicate, -2 the caller's configuration is out of date (reload it
# and retry), -3 the id was already used for different content (a conflict). Nothing is
# written unless it returns 1 (a cumulative series that did not grow only moves its state
# forward).
_COMMON = _BUCKETS_FN + _DAY_FN + _POINTS_FN + """
if (redis.call('GET', KEYS[21]) or '0') ~= ARGV[7] then return -2 end
local user = ARGV[1]
local mapped = ARGV[9] == '1'
""" + TEAM_HOOK_LUA + _BOARDS_FN + """
local function keep_unmapped(amount)
  redis.call('ZINCRBY', KEYS[23], amount, user)
  redis.call('SADD', KEYS[24], ARGV[10])
  redis.call('EXPIRE', KEYS[24], ARGV[2])
  redis.call('HSET', KEYS[25], user, ARGV[11])
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
  for name, x in pairs(adds) do after[name] = (after[name] or 0) + x end
  local added = day_write(key, user, after, pieces)
  redis.call('EXPIRE', key, ARGV[3])
  lh_grow(KEYS[2], st, added, ARGV[3], user_hash, day_frozen, DAYS_LOAD)
  return before, after, b
end
"""

USAGE_LUA = _COMMON + """
-- Several usage reports of one person (or identity) and local day, in one call: each has
-- its own marker (an event id in KEYS[1], or a cumulative series' state KEYS[25 + p]) and
-- status; the day's counters and boards are written once for all that counted.
-- ARGV: 12 series state ttl, 13 number of parts, then per part: kind ('d' one-off or
--       delta, 'c' cumulative, 'r' a vendor's daily row that replaces the previous one;
--       its marker is the row's state), fingerprint, value, series start ('d': the event
--       id's 8-byte digest), point time (both zero-padded to 20 digits), number of
--       fields, then field, amount-per-unit pairs.
-- Returns one status per part (see above).
local board = {tokens = 0, cost = 0, requests = 0}
local adds = {}
local statuses = {}
local pos, counted = 14, false
for p = 1, tonumber(ARGV[13]) do
  local key, kind, fp = KEYS[25 + p], ARGV[pos], ARGV[pos + 1]
  local v, start, t, nf = tonumber(ARGV[pos + 2]), ARGV[pos + 3], ARGV[pos + 4],
                          tonumber(ARGV[pos + 5])
  local status, changes = 1, nil
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
    -- identity and day (KEY: the row's state, field → amount), so the day changes by
    -- the difference, per field, up or down; an identical row adds nothing.
    local prev, state = {}, redis.call('HGETALL', key)
    for j = 1, #state, 2 do prev[state[j]] = tonumber(state[j + 1]) end
    local row = {}
    changes = {}
    for f = 1, nf do
      local field = ARGV[pos + 4 + 2 * f]
      local amount = tonumber(ARGV[pos + 5 + 2 * f]) * v
      row[#row + 1] = field
      row[#row + 1] = string.format('%.17g', amount)
      local before = prev[field] or 0
      if amount ~= before then changes[#changes + 1] = {field, amount - before} end
      prev[field] = nil
    end
    for field, amount in pairs(prev) do
      if amount ~= 0 then changes[#changes + 1] = {field, -amount} end
    end
    if #changes == 0 then status = 0
    else
      redis.call('DEL', key)
      if #row > 0 then redis.call('HSET', key, unpack(row)) end
      redis.call('EXPIRE', key, ARGV[2])
    end
  else
    status = claim_id(KEYS[1], start, fp, ARGV[2])
  end
  if status == 1 then
    counted = true
    if not changes then
      changes = {}
      for f = 1, nf do
        changes[f] = {ARGV[pos + 4 + 2 * f], tonumber(ARGV[pos + 5 + 2 * f]) * v}
      end
    end
    for _, change in ipairs(changes) do
      local field, amount = change[1], change[2]
      if field ~= 'cost' then amount = math.floor(amount + 0.5) end
      adds[field] = (adds[field] or 0) + amount
      if board[field] then board[field] = board[field] + amount end
    end
  end
  statuses[p] = status
  pos = pos + 6 + 2 * nf
end
if not counted then return statuses end
if adds.cost then adds.cost = math.floor(adds.cost * 1e12 + 0.5) / 1e12 end
local _, _, b = add_to_day(adds)
if not mapped then
  keep_unmapped(board.tokens)
  return statuses
end
touch(3, 6, string.format('%.17g', board.tokens), false, b)
touch(7, 10, string.format('%.17g', board.cost), false, b)
touch(11, 14, string.format('%.17g', board.requests), false, b)
touch(15, 18, 0, true, b)
redis.call('INCR', KEYS[19])
return statuses
"""

OUTCOME_LUA = _COMMON + """
-- ARGV: 12 day field (o:<kind> or o:<kind>~<mods>), 13 count (may be negative: a
--       revert), 14 kind, 15 JSON [RULES, MODS] for that kind, 16 the event id's digest
local c = claim_id(KEYS[1], ARGV[16], ARGV[8], ARGV[2])
if c ~= 1 then return c end
local before, after, b = add_to_day({[ARGV[12]] = tonumber(ARGV[13])})
if not mapped then
  keep_unmapped(ARGV[13])
  return 1
end
local config = cjson.decode(ARGV[15])
local delta = day_points(after, config[1], config[2], ARGV[14])
              - day_points(before, config[1], config[2], ARGV[14])
touch(3, 14, 0, true, b)
touch(15, 18, string.format('%.17g', delta), false, b)
redis.call('INCR', KEYS[19])
return 1
"""

# Credits an unmapped identity's day to the person it was just linked to: KEYS as
# _COMMON with KEYS[1] the identity's day hash; ARGV 1, 3-7, 9 ('1'), 10 as _COMMON,
# 12 JSON [RULES, MODS]. Returns 1 credited, 0 nothing to credit, -2 stale configuration.
CREDIT_LUA = _COMMON + """
local fields = redis.call('HGETALL', KEYS[1])
if #fields == 0 then return 0 end
local adds = {}
for j = 1, #fields, 2 do adds[fields[j]] = tonumber(fields[j + 1]) end
local before, after, b = add_to_day(adds)
local config = cjson.decode(ARGV[12])
local points = day_points(after, config[1], config[2], nil)
               - day_points(before, config[1], config[2], nil)
touch(3, 6, string.format('%.17g', adds.tokens or 0), false, b)
touch(7, 10, string.format('%.17g', adds.cost or 0), false, b)
touch(11, 14, string.format('%.17g', adds.requests or 0), false, b)
touch(15, 18, string.format('%.17g', points), false, b)
redis.call('DEL', KEYS[1])
redis.call('INCR', KEYS[19])
return 1
"""

# One person's day as name, value pairs. KEYS: 1 the day's directory; ARGV: 1 user.
DAY_READ_LUA = _BUCKETS_FN + _DAY_FN + """
local _, _, key = day_find(KEYS[1], ARGV[1])
local t = day_read(key, ARGV[1])
local out = {}
for name, x in pairs(t) do
  out[#out + 1] = name
  out[#out + 1] = day_num(x)
end
return out
"""

# Deletes one person's day. KEYS: 1 the day's directory; ARGV: 1 user. Returns 1 if there
# was one.
DAY_FORGET_LUA = _BUCKETS_FN + _DAY_FN + """
local _, _, key = day_find(KEYS[1], ARGV[1])
local _, pieces = day_read(key, ARGV[1])
if pieces == 0 then return 0 end
local names = {ARGV[1]}
for k = 1, pieces - 1 do names[#names + 1] = ARGV[1] .. '|' .. k end
redis.call('HDEL', key, unpack(names))
redis.call('HINCRBY', KEYS[1], 'n', -#names)
return 1
"""

# Starts a rebuild. KEYS: 1 rebuild state, 2 its days; ARGV: 1 token, 2 version, 3 metric,
# 4 ttl, 5.. the days it rescores. Returns 1, or 0 if another rebuild is running.
REBUILD_START_LUA = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'token', ARGV[1], 'version', ARGV[2], 'metric', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('DEL', KEYS[2])
for i = 5, #ARGV do redis.call('HSET', KEYS[2], ARGV[i], 0) end
redis.call('EXPIRE', KEYS[2], ARGV[4])
return 1
"""

# Rescores the next buckets of one day (phase 1 of a rebuild).
# KEYS: 1 rebuild state, 2 its days, 3 config version, 4 the day's directory of counts,
#       5 the day's live set of the metric, 6 its temporary set, 7.. the temporary week,
#       month (and all-time) sets
# ARGV: 1 version, 2 the day (ISO), 3 first bucket, 4 buckets to do, 5 JSON [RULES, MODS],
#       6 metric
# Each person gets their new day value in the temporary day set, and new − live day value
# (a correction that later events scored with the same version do not change) added to
# the temporary week/month/all-time sets. Returns the day's progress (buckets done, DONE),
# or -2 if the configuration changed (the rebuild must start again).
RESCORE_LUA = _BUCKETS_FN + _DAY_FN + _POINTS_FN + f"""
if redis.call('HGET', KEYS[1], 'version') ~= ARGV[1]
   or (redis.call('GET', KEYS[3]) or '0') ~= ARGV[1] then return -2 end
local done = tonumber(redis.call('HGET', KEYS[2], ARGV[2]) or '0')
if done ~= tonumber(ARGV[3]) then return done end
local nb = lh_count(lh_state(KEYS[4]))
local last = math.min(done + tonumber(ARGV[4]), nb)
local config = cjson.decode(ARGV[5])
local points = ARGV[6] == 'points'
for b = done, last - 1 do
  local all = redis.call('HGETALL', KEYS[4] .. ':' .. b)
  local firsts, rest = {{}}, {{}}
  for j = 1, #all, 2 do
    if string.find(all[j], '|', 1, true) then rest[all[j]] = all[j + 1]
    else firsts[all[j]] = all[j + 1] end
  end
  for who, first in pairs(firsts) do
    local piece = function(k) return rest[who .. '|' .. k] end
    local t = points and day_outcomes(first, piece) or day_unpack(first, piece)
    local new = day_value(t, ARGV[6], config)
    local fix = new - tonumber(redis.call('ZSCORE', KEYS[5], who) or '0')
    redis.call('ZADD', KEYS[6], string.format('%.17g', new), who)
    if fix ~= 0 or not points then  -- (phase 2 puts everyone in the points sets)
      for i = 7, #KEYS do redis.call('ZINCRBY', KEYS[i], string.format('%.17g', fix), who) end
    end
  end
end
for i = 6, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    redis.call('EXPIRE', KEYS[i], {TMP_TTL})
  end
end
if last >= nb then last = {DONE} end
redis.call('HSET', KEYS[2], ARGV[2], last)
return last
"""

# Copies people's live week/month/all-time scores into a rebuild's temporary set (phase 2),
# in the order of their user hash; newcomers since the copying began are already there.
# KEYS: 1 rebuild state, 2 its copy cursors, 3 config version, 4 live set, 5 temporary
#       set, 6 newcomers
# ARGV: 1 version, 2 the cursor once these are copied (highest user hash among them),
#       3.. the people
# Returns 1, or -2 if the configuration changed.
REBUILD_COPY_LUA = f"""
if redis.call('HGET', KEYS[1], 'version') ~= ARGV[1]
   or (redis.call('GET', KEYS[3]) or '0') ~= ARGV[1] then return -2 end
for i = 3, #ARGV do
  if redis.call('SISMEMBER', KEYS[6], ARGV[i]) == 0 then
    local x = redis.call('ZSCORE', KEYS[4], ARGV[i])
    if x then redis.call('ZINCRBY', KEYS[5], x, ARGV[i]) end
  end
end
redis.call('HSET', KEYS[2], KEYS[4], ARGV[2])
if redis.call('EXISTS', KEYS[5]) == 1 then redis.call('EXPIRE', KEYS[5], {TMP_TTL}) end
return 1
"""

# Ends a rebuild that failed, if it is still ours. KEYS: 1 state, 2.. its other keys.
REBUILD_RELEASE_LUA = """
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
return redis.call('DEL', unpack(KEYS))
"""
