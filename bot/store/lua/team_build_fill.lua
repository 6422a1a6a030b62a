-- One team's totals of a period, computed from its members' person sets, written whole
-- (bot/store/teams.py). Atomic: changes counted before it are in the people's scores it
-- sums, changes after it are mirrored onto it by the counting scripts' hook.
-- KEYS: 1 the team's members, then pairs (person set, team set); the last pair is the
-- points set, whose present members are the team's active members (`<team set>:n`).
-- ARGV: 1 team name, 2 marker the build set up. Returns 0 if the build was superseded.
local members = redis.call('SMEMBERS', KEYS[1])
for i = 2, #KEYS, 2 do
  local person, team = KEYS[i], KEYS[i + 1]
  if redis.call('GET', team .. ':built') ~= ARGV[2] then return 0 end
  local sum, active = 0, 0
  for j = 1, #members, 500 do
    local part = {unpack(members, j, math.min(j + 499, #members))}
    local scores = redis.call('ZMSCORE', person, unpack(part))
    for _, s in ipairs(scores) do
      if s then
        sum = sum + tonumber(s)
        active = active + 1
      end
    end
  end
  redis.call('ZADD', team, string.format('%.17g', sum), ARGV[1])
  if i + 1 == #KEYS then redis.call('HSET', team .. ':n', ARGV[1], active) end
  local ttl = redis.call('PTTL', team .. ':built')
  if ttl > 0 then
    redis.call('PEXPIRE', team, ttl)
    redis.call('PEXPIRE', team .. ':n', ttl)
  end
end
return 1
