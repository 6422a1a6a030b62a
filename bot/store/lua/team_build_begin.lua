-- Start building team sets from the people's sets (bot/store/teams.py TeamStore.build).
-- KEYS: 1 the set of built team sets, then pairs (person set, team set).
-- ARGV: 1 marker ('b|<stamp>|<token>'), 2 ttl (s) for a period with no person set yet.
-- The marker goes up first: from now on the counting scripts mirror every change into
-- the team set, and each team's own build call writes its absolute total over it.
for i = 2, #KEYS, 2 do
  local person, team = KEYS[i], KEYS[i + 1]
  redis.call('DEL', team, team .. ':n')
  local ttl = redis.call('PTTL', person)
  if ttl == -2 then
    redis.call('SET', team .. ':built', ARGV[1], 'EX', ARGV[2])
  elseif ttl == -1 then
    redis.call('SET', team .. ':built', ARGV[1])
  else
    redis.call('SET', team .. ':built', ARGV[1], 'PX', ttl)
  end
  redis.call('SADD', KEYS[1], team)
end
return 1
