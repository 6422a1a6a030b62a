-- Credits an unmapped identity's day to the person it was just linked to.
-- KEYS: 1 the identity's day hash, 2 the day's directory of people's counts, 3-18 the
--       boards (tokens, cost, requests, points × d/w/m/a; 22 where one is not kept),
--       19 gen, 20 rebuild state, 21 config version, 22 `none`
-- ARGV: 1 the person, 2 the configuration version the caller scored with, 3 the day
--       (ISO), 4 the day counts' ttl, 5-7 the day's, week's and month's boards' ttls,
--       8 JSON [RULES, MODS]. (bot.store.events.credit_call builds them.)
-- Returns 1 credited, 0 nothing to credit, -2 stale configuration.
--#include common/event.lua
if (redis.call('GET', KEYS[21]) or '0') ~= ARGV[2] then return -2 end
C.gen, C.rebuild, C.version = KEYS[19], KEYS[20], ARGV[2]
local boards = {}
for i = 1, 16 do boards[i] = KEYS[2 + i] ~= KEYS[22] and KEYS[2 + i] end
E.user, E.mapped, E.day, E.days, E.boards = ARGV[1], true, ARGV[3], KEYS[2], boards
E.ttl = {ids = ARGV[4], day = ARGV[4], d = ARGV[5], w = ARGV[6], m = ARGV[7]}
local fields = redis.call('HGETALL', KEYS[1])
if #fields == 0 then return 0 end
local adds = {}
for j = 1, #fields, 2 do adds[fields[j]] = tonumber(fields[j + 1]) end
local before, after, b = add_to_day(adds)
local config = cjson.decode(ARGV[8])
local points = day_points(after, config[1], config[2], nil)
               - day_points(before, config[1], config[2], nil)
touch(1, 4, adds.tokens or 0, false, b)
touch(5, 8, adds.cost or 0, false, b)
touch(9, 12, adds.requests or 0, false, b)
touch(13, 16, points, false, b)
redis.call('DEL', KEYS[1])
lh_flush()
redis.call('INCR', KEYS[19])
return 1
