-- Several usage reports of one person (or identity) and local day, in one call: each has
-- its own marker (an event id in KEYS[1], or a cumulative series' state KEYS[26 + p]) and
-- status; the day's counters and boards are written once for all that counted, and the
-- per-tool fields (`t:`, `c:`: bot.core.tools) also to the org's tool totals of the day
-- (KEYS[26], a small hash: field → amount), mapped or not.
-- ARGV: 12 series state ttl, 13 number of parts, then per part: kind ('d' one-off or
--       delta, 'c' cumulative, 'r' a vendor's daily row that replaces the previous one;
--       its marker is the row's state), fingerprint, value, series start ('d': the event
--       id's 8-byte digest), point time (both zero-padded to 20 digits), number of
--       fields, then field, amount-per-unit pairs.
-- Returns one status per part (the statuses, KEYS and ARGV 1-11: common/event.lua).
--#include common/event.lua
local board = {tokens = 0, cost = 0, requests = 0}
local adds = {}
local statuses = {}
local pos, counted = 14, false
for p = 1, tonumber(ARGV[13]) do
  local key, kind, fp = KEYS[26 + p], ARGV[pos], ARGV[pos + 1]
  local v, start, t, nf = tonumber(ARGV[pos + 2]), ARGV[pos + 3], ARGV[pos + 4],
                          tonumber(ARGV[pos + 5])
  local status, changes = 1, nil
  if kind == 'c' then
    -- A cumulative series: its state replaces the dedupe marker. A new start time is a
    -- reset; a point not newer than the last one is a replay and adds nothing.
    local st = redis.call('HMGET', key, 's', 't', 'v')
    if not st[1] or start > st[1] then
      redis.call('HSET', key, 's', start, 't', t, 'v', ARGV[pos + 2])
    elseif start < st[1] or t <= st[2] then status = 0
    else
      if v >= tonumber(st[3]) then v = v - tonumber(st[3]) end
      redis.call('HSET', key, 's', start, 't', t, 'v', ARGV[pos + 2])
    end
    if status == 1 then redis.call('EXPIRE', key, ARGV[12]) end
    if v <= 0 then status = 0 end
  elseif kind == 'r' then
    -- A vendor's daily row: it replaces what the same source said before for this
    -- identity and day (KEY: the row's state, field → amount), so the day changes by
    -- the difference, per field, up or down; an identical row adds nothing.
    local prev, state = {}, redis.call('HGETALL', key)
    for j = 1, #state, 2 do prev[state[j]] = tonumber(state[j + 1]) end
    local row = {}
    changes = {}
    for f = 1, nf do
      local field = ARGV[pos + 4 + 2 * f]
      local amount = tonumber(ARGV[pos + 5 + 2 * f]) * v
      row[#row + 1] = field
      row[#row + 1] = string.format('%.17g', amount)
      local before = prev[field] or 0
      if amount ~= before then changes[#changes + 1] = {field, amount - before} end
      prev[field] = nil
    end
    for field, amount in pairs(prev) do
      if amount ~= 0 then changes[#changes + 1] = {field, -amount} end
    end
    if #changes == 0 then status = 0
    else
      redis.call('DEL', key)
      if #row > 0 then redis.call('HSET', key, unpack(row)) end
      redis.call('EXPIRE', key, ARGV[2])
    end
  else
    status = claim_id(KEYS[1], start, fp, ARGV[2])
  end
  if status == 1 then
    counted = true
    if not changes then
      changes = {}
      for f = 1, nf do
        changes[f] = {ARGV[pos + 4 + 2 * f], tonumber(ARGV[pos + 5 + 2 * f]) * v}
      end
    end
    for _, change in ipairs(changes) do
      local field, amount = change[1], change[2]
      if field ~= 'cost' then amount = math.floor(amount + 0.5) end
      adds[field] = (adds[field] or 0) + amount
      if board[field] then board[field] = board[field] + amount end
    end
  end
  statuses[p] = status
  pos = pos + 6 + 2 * nf
end
if not counted then return statuses end
if adds.cost then adds.cost = math.floor(adds.cost * 1e12 + 0.5) / 1e12 end
local org_tools = false
for field, amount in pairs(adds) do
  local prefix = string.sub(field, 1, 2)
  if (prefix == 't:' or prefix == 'c:') and amount ~= 0 then
    redis.call('HINCRBY', KEYS[26], field, string.format('%d', amount))
    org_tools = true
  end
end
if org_tools then redis.call('EXPIRE', KEYS[26], ARGV[3]) end
local _, _, b = add_to_day(adds)
if not mapped then
  keep_unmapped(board.tokens)
  return statuses
end
touch(3, 6, string.format('%.17g', board.tokens), false, b)
touch(7, 10, string.format('%.17g', board.cost), false, b)
touch(11, 14, string.format('%.17g', board.requests), false, b)
touch(15, 18, 0, true, b)
redis.call('INCR', KEYS[19])
return statuses
