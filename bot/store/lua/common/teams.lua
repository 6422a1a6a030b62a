-- Teams (bot/store/teams.py): included by common/event.lua (E is the event being
-- counted, C.gen the workspace's `<prefix>gen`); its `touch` asks team_work, and where it
-- holds calls team_fresh before and team_touch after writing a person's board set
-- (i: 1-16, tokens, cost, requests, points × d/w/m/a).
-- A person's change of a board set `<prefix>z:<metric>:<scope>:<name>` moves each of the
-- person's teams (`<prefix>team:of:<user>`) in `<prefix>team:z:<metric>:<scope>:<name>`
-- by the same amount, and a person new to a points set adds 1 to their teams' active
-- members of the period (`…:n`), wherever that team set is built (`…:built`).
-- A call asks whether a team set is built at most once per set, and a person's teams at
-- most once per person (C.many_people: the call counts many groups, mostly of other people).
local team_names, team_built = {}, {}
local function team_key(key)
  local prefix = string.sub(C.gen, 1, -4)
  return prefix .. 'team:' .. string.sub(key, #prefix + 1)
end
local function built(key)
  local b = team_built[key]
  if b == nil then
    b = redis.call('EXISTS', team_key(key) .. ':built') == 1
    team_built[key] = b
  end
  return b
end
local function teams_of_user()
  local names = team_names[E.user]
  if names == nil then
    names = redis.call('SMEMBERS', string.sub(C.gen, 1, -4) .. 'team:of:' .. E.user)
    team_names[E.user] = names
  end
  return names
end
-- Whether the person's teams move with board `key`: asked key first when the call counts
-- many people (a few EXISTS per day), person first when it counts few (one SMEMBERS).
local function team_work(key)
  if C.many_people then return built(key) and #teams_of_user() > 0 end
  return #teams_of_user() > 0 and built(key)
end
-- Only where team_work(key) (the person is in a team whose set of this period is built):
-- before the write of board `key` (i: its place), is the person new to this points set?
local function team_fresh(i, key)
  return i >= 13 and not redis.call('ZSCORE', key, E.user)
end
-- And after it: move the person's teams by the same amount.
local function team_touch(i, key, amount, fresh)
  local teams = teams_of_user()
  local tkey = team_key(key)
  for _, t in ipairs(teams) do
    redis.call('ZINCRBY', tkey, amount, t)
    if fresh then redis.call('HINCRBY', tkey .. ':n', t, 1) end
  end
  local scope = (i - 1) % 4
  if scope < 3 then
    local ttl = E.ttl[TTL_AT[scope + 1]]
    expire_once(tkey, ttl)
    expire_once(tkey .. ':built', ttl)
    if i >= 13 then expire_once(tkey .. ':n', ttl) end
  end
end
