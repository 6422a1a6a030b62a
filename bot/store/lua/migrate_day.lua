-- Moves one person's day of the older layout (its own hash `day:<date>:<user>`, field ->
-- count: tokens, cost, requests, ..., a:<activity>, o:<kind>[~<mods>]) into the packed
-- day in that day's buckets, adding it to whatever is there (counts made since the
-- upgrade), and deletes the old hash, in one atomic call: run again, it finds nothing.
-- The buckets keep the longer of their expiry and the old hash's.
-- KEYS: 1 the old day hash, 2 the day's directory of counts, 3 a rebuild's `rebuild:days`
-- ARGV: 1 user, 2 the day (ISO), 3 the day's expiry (s) if the old hash has none
-- Returns how many fields were moved (0: nothing there, already moved).
--#include common/day.lua
--#include common/rebuild.lua
local fields = redis.call('HGETALL', KEYS[1])
if #fields == 0 then return 0 end
local user = ARGV[1]
local ttl = redis.call('TTL', KEYS[1])
if ttl < 1 then ttl = tonumber(ARGV[3]) end
local dir_ttl = redis.call('TTL', KEYS[2])
if dir_ttl > ttl then ttl = dir_ttl end
local st, _, key = day_find(KEYS[2], user)
local t, pieces = day_read(key, user)
for j = 1, #fields, 2 do
  local name = fields[j]
  t[name] = (t[name] or 0) + tonumber(fields[j + 1])
end
if t.cost then t.cost = math.floor(t.cost * 1e12 + 0.5) / 1e12 end
local added = day_write(key, user, t, pieces)
if redis.call('TTL', key) < ttl then redis.call('EXPIRE', key, ttl) end
local function frozen()  -- a rebuild is walking this day's buckets: do not split them
  local done = tonumber(redis.call('HGET', KEYS[3], ARGV[2]) or '0')
  return done > 0 and done < DONE
end
lh_grow(KEYS[2], st, added, ttl, user_hash, frozen, DAYS_LOAD)
redis.call('DEL', KEYS[1])
return #fields / 2
