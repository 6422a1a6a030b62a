-- A generic cell rate algorithm step for one sender, on Redis's own clock.
-- KEYS: 1 the sender's key (its theoretical arrival time, ms)
-- ARGV: 1 ms between requests at the sustained rate, 2 the burst window in ms
-- Returns -1 (allowed, and counted) or the ms to wait (refused, not counted).
--#include common/gcra.lua
return gcra_step(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])) or -1
