-- Ends a rebuild that failed, if it is still ours. KEYS: 1 state, 2.. its other keys;
-- ARGV: 1 the rebuild's token.
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
return redis.call('DEL', unpack(KEYS))
