-- Mark a build's team sets ready if nothing superseded it (bot/store/teams.py).
-- KEYS: 1 the roster version, then the team sets. ARGV: 1 the build's marker,
-- 2 the roster version it started at, 3 the ready marker ('r|<stamp>').
if (redis.call('GET', KEYS[1]) or '0') ~= ARGV[2] then return 0 end
for i = 2, #KEYS do
  if redis.call('GET', KEYS[i] .. ':built') ~= ARGV[1] then return 0 end
end
for i = 2, #KEYS do redis.call('SET', KEYS[i] .. ':built', ARGV[3], 'KEEPTTL') end
return 1
