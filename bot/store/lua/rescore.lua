-- Rescores the next buckets of one day (phase 1 of a rebuild).
-- KEYS: 1 rebuild state, 2 its days, 3 config version, 4 the day's directory of counts,
--       5 the day's live set of the metric, 6 its temporary set, 7.. the temporary week,
--       month (and all-time) sets
-- ARGV: 1 version, 2 the day (ISO), 3 first bucket, 4 buckets to do, 5 JSON [RULES, MODS],
--       6 metric
-- Each person gets their new day value in the temporary day set, and new - live day value
-- (a correction that later events scored with the same version do not change) added to
-- the temporary week/month/all-time sets. Returns the day's progress (buckets done, DONE),
-- or -2 if the configuration changed (the rebuild must start again).
--#include common/day.lua
--#include common/points.lua
--#include common/rebuild.lua
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
  local firsts, rest = {}, {}
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
    redis.call('EXPIRE', KEYS[i], TMP_TTL)
  end
end
if last >= nb then last = DONE end
redis.call('HSET', KEYS[2], ARGV[2], last)
return last
