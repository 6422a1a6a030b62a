-- A generic cell rate algorithm step for one sender, on Redis's own clock.
-- KEYS: 1 the sender's key (its theoretical arrival time, ms)
-- ARGV: 1 ms between requests at the sustained rate, 2 the burst window in ms
-- Returns -1 (allowed, and counted) or the ms to wait (refused, not counted).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local wait = new_tat - window - now
if wait > 0 then return math.ceil(wait) end
redis.call('SET', KEYS[1], string.format('%.3f', new_tat), 'PX', math.ceil(new_tat - now))
return -1
