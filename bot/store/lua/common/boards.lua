-- The board sets of a counting call, written behind: a set is read once (ZMSCORE of the
-- people the call will write there, `board_want`), every change of the call is made in
-- memory, and `boards_flush` writes each changed set with one variadic ZADD of the new
-- scores, then its expiry. Scores are added in the order the events come, from the
-- stored score read exactly (Redis answers scores as %.17g text), so each set ends as
-- one ZINCRBY per change would leave it; the script runs atomically, so nothing sees it
-- in between.
local zsets, zwant = {}, {}
-- `user` will be written in board `key` (read with the others on first use)
local function board_want(key, user)
  local w = zwant[key]
  if not w then
    w = {list = {}, has = {}}
    zwant[key] = w
  end
  if not w.has[user] then
    w.has[user] = true
    w.list[#w.list + 1] = user
  end
end
local function zset(key)
  local z = zsets[key]
  if z then return z end
  z = {scores = {}, changed = {}, order = {}, ttl = nil}
  zsets[key] = z
  local w = zwant[key]
  if w and #w.list > 0 then
    local got = redis.call('ZMSCORE', key, unpack(w.list))
    for j, m in ipairs(w.list) do z.scores[m] = got[j] and tonumber(got[j]) or false end
  end
  return z
end
-- The person's score in board `key` as the call has it so far (false: not a member)
local function board_score(key, user)
  local z = zset(key)
  local s = z.scores[user]
  if s == nil then
    s = redis.call('ZSCORE', key, user)
    s = s and tonumber(s) or false
    z.scores[user] = s
  end
  return s
end
-- Add `amount` to the person's score (only_if_new: make sure they are there, with 0);
-- `ttl`: the set's expiry (nil: none).
local function board_add(key, user, amount, only_if_new, ttl)
  local s = board_score(key, user)
  local z = zsets[key]
  z.ttl = ttl
  if only_if_new then
    if s then return end
    s = 0
  else
    s = (s or 0) + amount
  end
  z.scores[user] = s
  if not z.changed[user] then
    z.changed[user] = true
    z.order[#z.order + 1] = user
  end
end
local function boards_flush()
  for key, z in pairs(zsets) do
    if #z.order > 0 then
      local args = {}
      for _, m in ipairs(z.order) do
        args[#args + 1] = z.scores[m]  -- a number: redis.call writes it exactly (%.17g)
        args[#args + 1] = m
      end
      redis.call('ZADD', key, unpack(args))
      z.changed, z.order = {}, {}
    end
    if z.ttl then redis.call('EXPIRE', key, z.ttl) end
    z.ttl = nil
  end
end
