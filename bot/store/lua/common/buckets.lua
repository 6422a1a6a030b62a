-- One logical hash spread over small hashes by linear hashing, so every piece stays in
-- Redis's compact listpack encoding (<= 512 entries, 64-byte values) however large the
-- logical hash grows. A directory hash `<dir>` holds l (level), s (split pointer) and n
-- (entries); bucket `<dir>:<i>` holds the entries whose 32-bit hash h maps to i:
-- `h mod 2^l`, or `h mod 2^(l+1)` when that is below s. When n passes the load per bucket
-- (IDS_LOAD event ids; DAYS_LOAD entries of days, ~25 people), bucket s is split into s
-- and s + 2^l (one HGETALL of a small hash). Redis finds a field of a listpack by walking
-- it, so a small load keeps every look-up short (at 160 ids a bucket, walking buckets was
-- a fifth of a counting call's work); a bucket key costs ~100 bytes, ~3 per entry at 32,
-- and rescoring one bucket per call stays short. Used for the event ids of a sender's
-- day (field: 8-byte id digest, value: 4-byte content fingerprint) and for the people's
-- counts of a day (field: user id). The load only decides when the next split comes: a
-- directory written with another load is read the same way and splits to this one.
-- tests/unit/store/test_store.py checks where they split.
local IDS_LOAD, DAYS_LOAD = 32, 32
-- A script call reads a directory once (`lh_state`) and keeps its entry count in memory:
-- `lh_flush` writes the counts that changed, with the directory's expiry, once at the end.
-- Keys given an expiry by this call are remembered too (a key's expiry depends only on
-- its day, so once per call is enough; a bucket emptied by a split is forgotten).
local expired, lh_dirs = {}, {}
local function expire_once(key, ttl)
  if expired[key] then return end
  expired[key] = true
  redis.call('EXPIRE', key, ttl)
end
local function lh_state(dir)
  local st = lh_dirs[dir]
  if st then return st end
  local raw = redis.call('HMGET', dir, 'l', 's', 'n')
  st = {l = tonumber(raw[1] or '0'), s = tonumber(raw[2] or '0'),
        n = tonumber(raw[3] or '0'), ttl = nil}
  lh_dirs[dir] = st
  return st
end
local function lh_flush()
  for dir, st in pairs(lh_dirs) do
    if st.ttl then
      redis.call('HSET', dir, 'n', st.n)
      redis.call('EXPIRE', dir, st.ttl)
      st.ttl = nil
    end
  end
end
local function lh_count(st) return 2 ^ st.l + st.s end
local function lh_index(st, h)
  local size = 2 ^ st.l
  local b = h % size
  if b < st.s then b = h % (2 * size) end
  return b
end
-- `added` entries went into dir's buckets: split the next bucket if the mean load passed
-- `load` (unless `frozen`: a rebuild is walking this dir's buckets). hash_of(field)
-- gives a field's 32-bit hash; ttl is the buckets' expiry (and the directory's, written
-- by `lh_flush`).
local function lh_grow(dir, st, added, ttl, hash_of, frozen, load)
  if added == 0 then return end
  st.n, st.ttl = st.n + added, ttl
  if st.n <= load * lh_count(st) or (frozen and frozen()) then return end
  local size = 2 ^ st.l
  local from = dir .. ':' .. st.s
  local all = redis.call('HGETALL', from)
  local moved, names = {}, {}
  for j = 1, #all, 2 do
    if hash_of(all[j]) % (2 * size) ~= st.s then
      moved[#moved + 1] = all[j]
      moved[#moved + 1] = all[j + 1]
      names[#names + 1] = all[j]
    end
  end
  if #names > 0 then
    local to = dir .. ':' .. (st.s + size)
    redis.call('HSET', to, unpack(moved))
    redis.call('EXPIRE', to, ttl)
    expired[to] = true
    redis.call('HDEL', from, unpack(names))
    expired[from] = nil
  end
  st.s = st.s + 1
  if st.s == size then st.l, st.s = st.l + 1, 0 end
  redis.call('HSET', dir, 'l', st.l, 's', st.s)
end
-- 32-bit hash of an id digest (its first 4 bytes) and of a user id (the day's field,
-- without a `|<k>` continuation suffix)
local function digest_hash(d)
  local a, b, c, e = string.byte(d, 1, 4)
  return ((a * 256 + b) * 256 + c) * 256 + e
end
local user_hashes = {}  -- a call's users' hashes, each taken once
local function user_hash(u)
  local h = user_hashes[u]
  if h then return h end
  local bar = string.find(u, '|', 1, true)
  local name = bar and string.sub(u, 1, bar - 1) or u
  h = tonumber(string.sub(redis.sha1hex(name), 1, 8), 16)
  user_hashes[u] = h
  return h
end
-- Claim an event id (8-byte digest) in a sender's day: 1 new, 0 the same content seen
-- before, -3 the id was used for other content.
local function claim_id(dir, digest, fp, ttl)
  local st = lh_state(dir)
  local key = dir .. ':' .. lh_index(st, digest_hash(digest))
  if redis.call('HSETNX', key, digest, fp) == 1 then
    expire_once(key, ttl)
    lh_grow(dir, st, 1, ttl, digest_hash, nil, IDS_LOAD)
    return 1
  end
  if redis.call('HGET', key, digest) == fp then return 0 end
  return -3
end
