-- Credits an unmapped identity's day to the person it was just linked to: KEYS as
-- common/event.lua with KEYS[1] the identity's day hash; ARGV 1, 3-7, 9 ('1'), 10 as
-- there, 12 JSON [RULES, MODS]. Returns 1 credited, 0 nothing to credit, -2 stale
-- configuration.
--#include common/event.lua
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
