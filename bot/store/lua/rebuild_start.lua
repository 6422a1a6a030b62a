-- Starts a rebuild. KEYS: 1 rebuild state, 2 its days; ARGV: 1 token, 2 version, 3 metric,
-- 4 ttl, 5.. the days it rescores. Returns 1, or 0 if another rebuild is running.
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'token', ARGV[1], 'version', ARGV[2], 'metric', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('DEL', KEYS[2])
for i = 5, #ARGV do redis.call('HSET', KEYS[2], ARGV[i], 0) end
redis.call('EXPIRE', KEYS[2], ARGV[4])
return 1
