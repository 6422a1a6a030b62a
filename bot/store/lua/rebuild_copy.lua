-- Copies people's live week/month/all-time scores into a rebuild's temporary set (phase 2),
-- in the order of their user hash; newcomers since the copying began are already there.
-- KEYS: 1 rebuild state, 2 its copy cursors, 3 config version, 4 live set, 5 temporary
--       set, 6 newcomers
-- ARGV: 1 version, 2 the cursor once these are copied (highest user hash among them),
--       3.. the people
-- Returns 1, or -2 if the configuration changed.
--#include common/rebuild.lua
if redis.call('HGET', KEYS[1], 'version') ~= ARGV[1]
   or (redis.call('GET', KEYS[3]) or '0') ~= ARGV[1] then return -2 end
for i = 3, #ARGV do
  if redis.call('SISMEMBER', KEYS[6], ARGV[i]) == 0 then
    local x = redis.call('ZSCORE', KEYS[4], ARGV[i])
    if x then redis.call('ZINCRBY', KEYS[5], x, ARGV[i]) end
  end
end
redis.call('HSET', KEYS[2], KEYS[4], ARGV[2])
if redis.call('EXISTS', KEYS[5]) == 1 then redis.call('EXPIRE', KEYS[5], TMP_TTL) end
return 1
