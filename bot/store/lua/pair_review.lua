-- One review of an author by a reviewer in an ISO week, counted once per review object.
-- KEYS: 1 the week's pair counts (hash "reviewer>author" -> reviews),
--       2 the week's reviews seen (hash review object -> "ordinal,reverse")
-- ARGV: 1 review object id, 2 "reviewer>author", 3 "author>reviewer", 4 ttl (s)
-- Returns "ordinal,reverse": this review's place among the reviewer's reviews of the
-- author that week, and the author's reviews of the reviewer that week so far. A review
-- seen before returns what it got then (a redelivery changes nothing).
local seen = redis.call('HGET', KEYS[2], ARGV[1])
if seen then return seen end
local n = redis.call('HINCRBY', KEYS[1], ARGV[2], 1)
local r = tonumber(redis.call('HGET', KEYS[1], ARGV[3]) or '0')
local value = n .. ',' .. r
redis.call('HSET', KEYS[2], ARGV[1], value)
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[4])
return value
