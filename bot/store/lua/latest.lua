-- Keep the later of two times in a hash field, and set other fields.
-- KEYS: 1 the hash; ARGV: 1 field, 2 epoch seconds, 3 ttl (s), 4.. field, value pairs
local old = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '-1')
if tonumber(ARGV[2]) > old then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
