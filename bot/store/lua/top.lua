-- The board as a request reads it (bot.boards.read): the top N of each board, the viewer's
-- own line and the moves of the rows shown; its one write notes that the period is read.
-- KEYS: 1 raw set, 2 points set, 3 tokens set, 4 opted-out people, 5 the period's stored
--       population figures, 6 generation, 7 the periods being read (sorted set)
-- ARGV: 1 N (rows per board), 2 viewer ('' for none), 3 how many of the stored efficiency
--       leaders to read rows for, 4 this period's member of KEYS[7] ('' to leave it), 5 now
-- Returns {people, raw top, points top, rows, population JSON or false, generation}, rows
-- as flat [user, raw, points, tokens, higher on raw, higher on points] per active person.
local n, viewer = tonumber(ARGV[1]), ARGV[2]
local hidden, hidden_list = {}, {}
for _, m in ipairs(redis.call('SMEMBERS', KEYS[4])) do
  if m ~= viewer then hidden[m] = true; hidden_list[#hidden_list + 1] = m end
end
local function hidden_scores(key)
  local out = {}
  for _, m in ipairs(hidden_list) do
    local s = redis.call('ZSCORE', key, m)
    if s then out[#out + 1] = tonumber(s) end
  end
  return out
end
local hidden_raw, hidden_points = hidden_scores(KEYS[1]), hidden_scores(KEYS[2])
local function hidden_above(scores, value)
  local c = 0
  for _, x in ipairs(scores) do if x > value then c = c + 1 end end
  return c
end
local function top(key)
  if n <= 0 then return {} end
  local k = n + #hidden_list
  local page = redis.call('ZREVRANGE', key, 0, k - 1, 'WITHSCORES')
  local rows = {}
  for i = 1, #page, 2 do rows[#rows + 1] = {page[i], tonumber(page[i + 1])} end
  if #rows == k then
    -- Members tied with the last one read may go on past it: take them in id order.
    local cut, text = rows[#rows][2], page[#page]
    local kept = {}
    for _, r in ipairs(rows) do if r[2] > cut then kept[#kept + 1] = r end end
    for _, m in ipairs(redis.call('ZRANGEBYSCORE', key, text, text, 'LIMIT', 0, k)) do
      kept[#kept + 1] = {m, cut}
    end
    rows = kept
  end
  table.sort(rows, function(a, b)
    if a[2] ~= b[2] then return a[2] > b[2] end
    return a[1] < b[1]
  end)
  local out = {}
  for _, r in ipairs(rows) do
    if not hidden[r[1]] then
      out[#out + 1] = r[1]
      if #out == n then break end
    end
  end
  return out
end
local raw_top, points_top = top(KEYS[1]), top(KEYS[2])
local wanted, seen = {}, {}
local function want(list)
  for _, m in ipairs(list) do
    if not seen[m] and not hidden[m] then seen[m] = true; wanted[#wanted + 1] = m end
  end
end
want(raw_top); want(points_top)
if viewer ~= '' then want({viewer}) end
local stored = redis.call('GET', KEYS[5])
if stored then
  local ok, figures = pcall(cjson.decode, stored)
  if ok and type(figures) == 'table' and type(figures.efficiency_leaders) == 'table' then
    for i, leader in ipairs(figures.efficiency_leaders) do
      if i > tonumber(ARGV[3]) then break end
      want({leader[1]})
    end
  end
end
local rows = {}
for _, m in ipairs(wanted) do
  local raw = redis.call('ZSCORE', KEYS[1], m)
  if raw then
    local points = redis.call('ZSCORE', KEYS[2], m) or '0'
    local tokens = raw
    if KEYS[3] ~= KEYS[1] then tokens = redis.call('ZSCORE', KEYS[3], m) or '0' end
    local rn, pn = tonumber(raw), tonumber(points)
    rows[#rows + 1] = m
    rows[#rows + 1] = raw
    rows[#rows + 1] = points
    rows[#rows + 1] = tokens
    rows[#rows + 1] = redis.call('ZCOUNT', KEYS[1], '(' .. raw, '+inf')
                      - hidden_above(hidden_raw, rn)
    rows[#rows + 1] = redis.call('ZCOUNT', KEYS[2], '(' .. points, '+inf')
                      - hidden_above(hidden_points, pn)
  end
end
local people = redis.call('ZCARD', KEYS[1]) - #hidden_raw
if ARGV[4] ~= '' then redis.call('ZADD', KEYS[7], 'GT', ARGV[5], ARGV[4]) end
return {people, raw_top, points_top, rows, stored or false,
        tonumber(redis.call('GET', KEYS[6]) or '0')}
