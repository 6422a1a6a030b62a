-- Counts a batch of usage and outcome events in one call (common/event.lua counts each;
-- what the events share, the call does once: the configuration check, each key's expiry,
-- each directory's read and entry count, each person's teams, the generation bump).
-- KEYS: 1 gen, 2 rebuild state, 3 config version, 4 `none` (never written: the
--       placeholder for a set that is not kept), 5 unmapped token totals, 6 unmapped
--       outcome totals, 7 unmapped last-seen, then G guard keys, then per day D blocks of
--       19: the sender's directory of event ids, the day's directory of counts, the 16
--       boards (tokens, cost, requests, points × d/w/m/a), the org's per-tool totals of
--       the day (field → amount: the `t:`/`c:` fields of bot.core.tools of every counted
--       usage, mapped or not), then the events' own keys
--       (X of them, numbered 1..X below: 0 is none).
-- ARGV: 1 config version the caller scored with, 2 now (epoch s), 3 series state ttl,
--       4 G, 5 D, 6 JSON [RULES, MODS] (every kind; "" when no outcome), then G values the guard keys must
--       hold (a missing key holds '0'), then per day: the day (ISO) and the ttls of its
--       event ids, counts, day, week and month boards; then the number of events, then
--       the events' text and numbers as one JSON array (A below), then their binary
--       arguments, two per event (B below, in the events' order). Per event, in A:
--   'u' day, member, mapped ('1'/'0'), identity-day key, identity-days key, parts, then
--       per part: marker key (0 for an event id, claimed in the sender's ids; else a
--       cumulative series' or a vendor row's state), kind ('d' one-off or delta, 'c'
--       cumulative, 'r' a vendor's daily row that replaces the previous one), value
--       (text), point time (zero-padded to 20 digits), number of fields, then field,
--       amount-per-unit pairs (numbers); in B its
--       fingerprint and series start ('d': the event id's 8-byte digest; zero-padded to
--       20 digits): usage reports of one person (or identity) and day, their counters and
--       boards written once for all that counted;
--   'o' day, member, mapped, identity-day key, identity-days key, day field (o:<kind> or
--       o:<kind>~<mods>), count (may be negative: a revert), kind; in B its fingerprint
--       and the event id's digest: one outcome.
--       A guard whose value is `gcra:<interval ms>:<window ms>` is the sender's rate
--       instead (common/gcra.lua): checked after every other guard, it counts this
--       request against the sender's rate, or refuses the whole call. A guard whose
--       value is `gate` is the request's gate: a call refused over the rate writes '1'
--       there (for a minute), so the request's later calls, pipelined behind this one
--       with the gate as an ordinary guard ('0'), count nothing either.
-- Returns one status per usage part and outcome, in order (common/event.lua), or {-2}
-- when the configuration version moved (nothing counted; reload it and retry), or {-4}
-- when a guard key does not hold its value (nothing counted; the caller's caches are
-- stale: reload them and retry), or {-5, ms} when the sender is over its rate (nothing
-- counted; retry in ms).
--#include common/event.lua
--#include common/gcra.lua
if (redis.call('GET', KEYS[3]) or '0') ~= ARGV[1] then return {-2} end
local G, D = tonumber(ARGV[4]), tonumber(ARGV[5])
local rate, gate = nil, nil
for g = 1, G do
  local want = ARGV[6 + g]
  if string.sub(want, 1, 5) == 'gcra:' then rate = g
  elseif want == 'gate' then gate = g
  elseif (redis.call('GET', KEYS[7 + g]) or '0') ~= want then return {-4} end
end
if rate then
  local interval, window = string.match(ARGV[6 + rate], '^gcra:([^:]+):([^:]+)$')
  local wait = gcra_step(KEYS[7 + rate], tonumber(interval), tonumber(window))
  if wait then
    if gate then redis.call('SET', KEYS[7 + gate], '1', 'PX', 60000) end
    return {-5, wait}
  end
end
C.gen, C.rebuild, C.version, C.now = KEYS[1], KEYS[2], ARGV[1], ARGV[2]
local none, series_ttl = KEYS[4], ARGV[3]
local config = nil
local days = {}
for d = 1, D do
  local k, a = 7 + G + 19 * (d - 1), 7 + G + 6 * (d - 1)
  local boards = {}
  for i = 1, 16 do
    local key = KEYS[k + 2 + i]
    boards[i] = key ~= none and key
  end
  days[d] = {ids = KEYS[k + 1], days = KEYS[k + 2], boards = boards, day = ARGV[a],
             tools = KEYS[k + 19],
             ttl = {ids = ARGV[a + 1], day = ARGV[a + 2], d = ARGV[a + 3],
                    w = ARGV[a + 4], m = ARGV[a + 5]}}
end
local xbase = 7 + G + 19 * D  -- the events' own keys follow
local NO_BOARDS = {false, false, false, false, false, false, false, false,
                   false, false, false, false, false, false, false, false}

local A = cjson.decode(ARGV[8 + G + 6 * D])  -- the events' text and numbers
local bin = 9 + G + 6 * D  -- the next binary argument (B)

-- E for the event at A[pos] (its day, member, mapped, identity keys)
local function begin(pos, unmapped_totals)
  local day = days[A[pos]]
  E.user, E.mapped, E.day, E.ttl, E.ids = A[pos + 1], A[pos + 2] == '1', day.day,
                                          day.ttl, day.ids
  E.tools = day.tools
  if E.mapped then
    E.days, E.boards = day.days, day.boards
  else
    E.days, E.boards = KEYS[xbase + A[pos + 3]], NO_BOARDS
    E.unmapped, E.idays = unmapped_totals, KEYS[xbase + A[pos + 4]]
    E.unmapped_last = KEYS[7]
  end
end

local statuses, counted = {}, 0
local tool_adds, tool_ttls = {}, {}  -- per-tool totals key → field → amount, its ttl

-- usage reports of one person (or identity) and day, from A[pos]; returns the next pos
local function usage(pos)
  begin(pos, KEYS[5])
  local board = {tokens = 0, cost = 0, requests = 0}
  local adds, any = {}, false
  pos = pos + 6
  for _ = 1, A[pos - 1] do
    local key, kind, fp, start = KEYS[xbase + A[pos]], A[pos + 1], ARGV[bin], ARGV[bin + 1]
    local v, t, nf = tonumber(A[pos + 2]), A[pos + 3], A[pos + 4]
    local f0 = pos + 5  -- first field name
    bin = bin + 2
    local status, changes = 1, nil
    if kind == 'c' then
      -- A cumulative series: its state replaces the dedupe marker. A new start time is a
      -- reset; a point not newer than the last one is a replay and adds nothing.
      local st = redis.call('HMGET', key, 's', 't', 'v')
      if not st[1] or start > st[1] then
        redis.call('HSET', key, 's', start, 't', t, 'v', A[pos + 2])
      elseif start < st[1] or t <= st[2] then status = 0
      else
        if v >= tonumber(st[3]) then v = v - tonumber(st[3]) end
        redis.call('HSET', key, 's', start, 't', t, 'v', A[pos + 2])
      end
      if status == 1 then redis.call('EXPIRE', key, series_ttl) end
      if v <= 0 then status = 0 end
    elseif kind == 'r' then
      -- A vendor's daily row: it replaces what the same source said before for this
      -- identity and day (KEY: the row's state, field → amount), so the day changes by
      -- the difference, per field, up or down; an identical row adds nothing.
      local prev, state = {}, redis.call('HGETALL', key)
      for j = 1, #state, 2 do prev[state[j]] = tonumber(state[j + 1]) end
      local row = {}
      changes = {}
      for f = 0, nf - 1 do
        local field = A[f0 + 2 * f]
        local amount = A[f0 + 2 * f + 1] * v
        row[#row + 1] = field
        row[#row + 1] = string.format('%.17g', amount)
        local before = prev[field] or 0
        if amount ~= before then
          changes[#changes + 1] = field
          changes[#changes + 1] = amount - before
        end
        prev[field] = nil
      end
      for field, amount in pairs(prev) do
        if amount ~= 0 then
          changes[#changes + 1] = field
          changes[#changes + 1] = -amount
        end
      end
      if #changes == 0 then status = 0
      else
        redis.call('DEL', key)
        if #row > 0 then redis.call('HSET', key, unpack(row)) end
        redis.call('EXPIRE', key, E.ttl.ids)
      end
    else
      status = claim_id(E.ids, start, fp, E.ttl.ids)
    end
    if status == 1 then
      any = true
      -- field, amount pairs: the row's changes, else the part's fields times its value
      local pairs_at, first, scale, count = A, f0, v, nf
      if changes then pairs_at, first, scale, count = changes, 1, 1, #changes / 2 end
      for f = 0, count - 1 do
        local field = pairs_at[first + 2 * f]
        local amount = pairs_at[first + 2 * f + 1] * scale
        if field ~= 'cost' then amount = math.floor(amount + 0.5) end
        adds[field] = (adds[field] or 0) + amount
        if board[field] then board[field] = board[field] + amount end
      end
    end
    statuses[#statuses + 1] = status
    pos = f0 + 2 * nf
  end
  if not any then return pos end
  counted = counted + 1
  if adds.cost then adds.cost = math.floor(adds.cost * 1e12 + 0.5) / 1e12 end
  local tools = tool_adds[E.tools]  -- the org's per-tool totals of the day (at the end)
  for field, amount in pairs(adds) do
    local prefix = string.sub(field, 1, 2)
    if (prefix == 't:' or prefix == 'c:') and amount ~= 0 then
      if not tools then
        tools = {}
        tool_adds[E.tools], tool_ttls[E.tools] = tools, E.ttl.day
      end
      tools[field] = (tools[field] or 0) + amount
    end
  end
  local before, _, b = add_to_day(adds)
  if not E.mapped then
    keep_unmapped(board.tokens)
    return pos
  end
  touch(1, 4, board.tokens, false, b)
  touch(5, 8, board.cost, false, b)
  touch(9, 12, board.requests, false, b)
  if not next(before) then touch(13, 16, 0, true, b) end  -- (see `touch`: already there)
  return pos
end

-- one outcome, from A[pos]; returns the next pos
local function outcome(pos)
  begin(pos, KEYS[6])
  local field, n, kind = A[pos + 5], A[pos + 6], A[pos + 7]
  local fp, digest = ARGV[bin], ARGV[bin + 1]
  bin = bin + 2
  local c = claim_id(E.ids, digest, fp, E.ttl.ids)
  statuses[#statuses + 1] = c
  if c ~= 1 then return pos + 8 end
  counted = counted + 1
  local before, after, b = add_to_day({[field] = tonumber(n)})
  if not E.mapped then
    keep_unmapped(n)
    return pos + 8
  end
  config = config or cjson.decode(ARGV[6])
  local delta = day_points(after, config[1], config[2], kind)
                - day_points(before, config[1], config[2], kind)
  if not next(before) then touch(1, 12, 0, true, b) end
  touch(13, 16, delta, false, b)
  return pos + 8
end

local n = tonumber(ARGV[7 + G + 6 * D])
C.many_people = n > 8  -- n: usage groups and outcomes, most of them of other people
local pos = 1
for _ = 1, n do
  if A[pos] == 'u' then pos = usage(pos + 1) else pos = outcome(pos + 1) end
end
for key, adds in pairs(tool_adds) do
  for field, amount in pairs(adds) do
    if amount ~= 0 then redis.call('HINCRBY', key, field, string.format('%d', amount)) end
  end
  expire_once(key, tool_ttls[key])
end
lh_flush()
if counted > 0 then redis.call('INCRBY', KEYS[1], counted) end
return statuses
