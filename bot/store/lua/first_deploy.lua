-- Whether a deploy is the first of its (repository, commit, environment).
-- KEYS: 1 the deploy's key; ARGV: 1 the deployment status object id, 2 ttl (s)
-- Returns 1 when this object is the first deploy of that key (also on its redeliveries),
-- 0 when another object deployed it before.
local first = redis.call('GET', KEYS[1])
if not first then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  return 1
end
if first == ARGV[1] then return 1 end
return 0
