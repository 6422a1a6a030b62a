-- One person's day as name, value pairs. KEYS: 1 the day's directory; ARGV: 1 user.
--#include common/day.lua
local _, _, key = day_find(KEYS[1], ARGV[1])
local t = day_read(key, ARGV[1])
local out = {}
for name, x in pairs(t) do
  out[#out + 1] = name
  out[#out + 1] = day_num(x)
end
return out
