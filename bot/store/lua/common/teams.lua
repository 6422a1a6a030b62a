-- Teams (bot/store/teams.py): included by common/event.lua after `local user` (the
-- person); its `touch` calls team_fresh before and team_touch after writing a person's
-- board set.
-- A person's change of a board set `<prefix>z:<metric>:<scope>:<name>` moves each of the
-- person's teams (`<prefix>team:of:<user>`) in `<prefix>team:z:<metric>:<scope>:<name>`
-- by the same amount, and a person new to a points set adds 1 to their teams' active
-- members of the period (`…:n`), wherever that team set is built (`…:built`).
-- KEYS[19] is `<prefix>gen`, so the team keys stay in the workspace's hash tag.
local team_prefix = string.sub(KEYS[19], 1, -4)
local team_names = nil
local function teams_of_user()
  if team_names == nil then
    team_names = redis.call('SMEMBERS', team_prefix .. 'team:of:' .. user)
  end
  return team_names
end
-- Before the write of board KEYS[i]: is the person in a team and new to this points set?
local function team_fresh(i, key)
  if i < 15 or #teams_of_user() == 0 then return false end
  return not redis.call('ZSCORE', key, user)
end
local function team_touch(i, key, amount, fresh)
  local teams = teams_of_user()
  if #teams == 0 then return end
  local tkey = team_prefix .. 'team:' .. string.sub(key, #team_prefix + 1)
  if redis.call('EXISTS', tkey .. ':built') == 0 then return end
  for _, t in ipairs(teams) do
    redis.call('ZINCRBY', tkey, amount, t)
    if fresh then redis.call('HINCRBY', tkey .. ':n', t, 1) end
  end
  if (i - 3) % 4 < 3 then
    local ttl = ARGV[4 + ((i - 3) % 4)]
    redis.call('EXPIRE', tkey, ttl)
    redis.call('EXPIRE', tkey .. ':built', ttl)
    if i >= 15 then redis.call('EXPIRE', tkey .. ':n', ttl) end
  end
end
