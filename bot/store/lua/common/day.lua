-- A person's day as one packed text value in the day's buckets: `T1234,C0.5,R3,
-- pr_merged=2,a:lines=7` (one-letter codes: bot.core.counts.DAY_CODES, which
-- tests/test_store_lua.py checks DAY_CODES below against; outcome fields `o:<kind>`
-- without their `o:`; other names as they are, or `:<name>` when they hold no colon).
-- A tool's or model's field (`t:`, `m:` tokens, `c:` cost in 1/COST_UNIT dollars:
-- bot.core.tools) that holds the day's whole tokens or cost is written bare, without
-- `=<amount>`: the common day of one tool and one model packs shorter.
-- Text longer than a listpack value goes on in fields `<user>|1`, ... and the first piece
-- starts with the number of those. DAY_PIECE: bytes of packed text per piece (+ 1 digit).
--#include common/buckets.lua
local DAY_CODES = {tokens = 'T', cost = 'C', requests = 'R', input_tokens = 'I', output_tokens = 'O', cache_read_tokens = 'K', cache_creation_tokens = 'W', sessions = 'S'}
local DAY_NAMES = {T = 'tokens', C = 'cost', R = 'requests', I = 'input_tokens', O = 'output_tokens', K = 'cache_read_tokens', W = 'cache_creation_tokens', S = 'sessions'}
local DAY_PIECE = 63
local COST_UNIT = 10000
local function day_cost_units(t)
  return math.floor((t.cost or 0) * COST_UNIT + 0.5)
end
-- What a bare `t:`/`m:`/`c:` field of day `t` stands for.
local function day_whole(name, t)
  if string.sub(name, 1, 2) == 'c:' then return day_cost_units(t) end
  return t.tokens or 0
end
local function day_num(x)
  if x == math.floor(x) and math.abs(x) < 1e15 then return string.format('%d', x) end
  local s = string.format('%.15g', x)
  if tonumber(s) ~= x then s = string.format('%.17g', x) end
  return s
end
-- How a name is written (each worked out once per call): its code, or its text bare
-- (`bare`: a tool's or model's field, which may go without its amount) and before `=`.
local day_labels = {}
local function day_label(name)
  local label = day_labels[name]
  if label then return label end
  local code = DAY_CODES[name]
  if code then
    label = {code = code}
  else
    local clean = string.gsub(name, '[,=|]', '_')
    local kind = string.sub(clean, 1, 2)
    local text = clean
    if kind == 'o:' then text = string.sub(clean, 3)
    elseif not string.find(clean, ':', 1, true) then text = ':' .. clean end
    label = {bare = (kind == 't:' or kind == 'm:' or kind == 'c:') and clean,
             text = text .. '='}
  end
  day_labels[name] = label
  return label
end
local function day_item(name, x, t)
  local label = day_label(name)
  if label.code then return label.code .. day_num(x) end
  if label.bare and x ~= 0 and x == day_whole(label.bare, t) then return label.bare end
  return label.text .. day_num(x)
end
local function day_decode(text, t, bare)
  for item in string.gmatch(text, '[^,]+') do
    local eq = string.find(item, '=', 1, true)
    local name, x
    if not eq and string.find(item, ':', 1, true) then
      bare[#bare + 1] = item
    elseif eq then
      name, x = string.sub(item, 1, eq - 1), string.sub(item, eq + 1)
      if string.sub(name, 1, 1) == ':' then name = string.sub(name, 2)
      elseif not string.find(name, ':', 1, true) then name = 'o:' .. name end
    else
      name, x = DAY_NAMES[string.sub(item, 1, 1)], string.sub(item, 2)
    end
    if name and x then t[name] = (t[name] or 0) + tonumber(x) end
  end
  return t
end
-- A person's day from its first piece; piece(k) gives continuation k.
local function day_unpack(first, piece)
  local t, bare = {}, {}
  if not first then return t, 0 end
  local extra = tonumber(string.sub(first, 1, 1))
  day_decode(string.sub(first, 2), t, bare)
  for k = 1, extra do day_decode(piece(k) or '', t, bare) end
  for _, name in ipairs(bare) do t[name] = (t[name] or 0) + day_whole(name, t) end
  return t, extra + 1
end
-- Only the outcome counts (`o:<kind>…`) of a person's day, without decoding the rest:
-- what rescoring points needs, several times faster than day_unpack.
local function day_outcomes(first, piece)
  local t = {}
  local extra = tonumber(string.sub(first, 1, 1))
  local text = ',' .. string.sub(first, 2)
  for k = 1, extra do text = text .. ',' .. (piece(k) or '') end
  for name, x in string.gmatch(text, ',([%w_~+]+)=([^,]*)') do
    t['o:' .. name] = (t['o:' .. name] or 0) + tonumber(x)
  end
  return t
end
local function day_read(key, user)
  local first = redis.call('HGET', key, user)
  local rest = {}
  if first and string.sub(first, 1, 1) ~= '0' then
    local names = {}
    for k = 1, tonumber(string.sub(first, 1, 1)) do names[k] = user .. '|' .. k end
    rest = redis.call('HMGET', key, unpack(names))
  end
  return day_unpack(first, function(k) return rest[k] end)
end
-- Write `t` as `user`'s day into bucket `key` (it had `old` pieces); returns how many
-- fields were added (negative: removed).
local function day_write(key, user, t, old)
  local pieces, items, len = {}, {}, -1  -- len: the piece's text so far (-1: empty)
  for name, x in pairs(t) do
    local item = day_item(name, x, t)
    if len >= 0 and len + 1 + #item > DAY_PIECE and #pieces < 8 then
      pieces[#pieces + 1] = table.concat(items, ',')
      items, len = {}, -1
    end
    items[#items + 1] = item
    len = len + 1 + #item
  end
  pieces[#pieces + 1] = table.concat(items, ',')
  local args = {user, (#pieces - 1) .. pieces[1]}
  for k = 2, #pieces do
    args[#args + 1] = user .. '|' .. (k - 1)
    args[#args + 1] = pieces[k]
  end
  local added = redis.call('HSET', key, unpack(args))
  if old > #pieces then
    local gone = {}
    for k = #pieces, old - 1 do gone[#gone + 1] = user .. '|' .. k end
    added = added - redis.call('HDEL', key, unpack(gone))
  end
  return added
end
-- The bucket of `user` in the day's directory `dir`: (state, bucket index, key)
local function day_find(dir, user)
  local st = lh_state(dir)
  local b = lh_index(st, user_hash(user))
  return st, b, dir .. ':' .. b
end
