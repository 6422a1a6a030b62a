-- One outcome event of one person (or identity): its id is claimed, its count added to
-- the day, and the points it changes added to the boards (KEYS, ARGV 1-11: common/event.lua).
-- ARGV: 12 day field (o:<kind> or o:<kind>~<mods>), 13 count (may be negative: a
--       revert), 14 kind, 15 JSON [RULES, MODS] for that kind, 16 the event id's digest
--#include common/event.lua
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
