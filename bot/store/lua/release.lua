-- Deletes a claim only if it is still ours. KEYS: 1 the claim; ARGV: 1 its owner.
-- Returns 1 released, 0 not ours (expired, or taken by another process since).
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
