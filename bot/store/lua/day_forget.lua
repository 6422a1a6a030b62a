-- Deletes one person's day. KEYS: 1 the day's directory; ARGV: 1 user. Returns 1 if
-- there was one.
--#include common/day.lua
local _, _, key = day_find(KEYS[1], ARGV[1])
local _, pieces = day_read(key, ARGV[1])
if pieces == 0 then return 0 end
local names = {ARGV[1]}
for k = 1, pieces - 1 do names[#names + 1] = ARGV[1] .. '|' .. k end
redis.call('HDEL', key, unpack(names))
redis.call('HINCRBY', KEYS[1], 'n', -#names)
return 1
