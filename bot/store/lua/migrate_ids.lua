-- Moves event ids of the older layout into a sender's day of ids (common/buckets.lua), so
-- a report sent before the upgrade and retried after it is still a duplicate. The older
-- layout kept them in a hash `seen:<sender>:<date>` (event id -> content fingerprint, one
-- expiry) or, before that, one string key per id `seen:<sender>:<event id>` (value: the
-- fingerprint). Atomic: what is moved is deleted from the old key in the same call, so a
-- call run again moves nothing twice. An id already claimed since the upgrade keeps its
-- entry. New buckets keep the longer of their expiry and the old key's.
-- KEYS: 1..n-1 the sender's day directories of ids to claim in, n the old key
-- ARGV: 1 expiry (s) if the old key has none, 2 'h' (a hash: move the fields named) or
--       's' (a string key: claim its id, delete it), then per id: the old field ('' for
--       's'), the id's 8-byte digest, the stored fingerprint
-- Returns how many ids were claimed anew.
--#include common/buckets.lua
local old = KEYS[#KEYS]
local ttl = redis.call('TTL', old)
if ttl == -2 then return 0 end
if ttl < 1 then ttl = tonumber(ARGV[1]) end
local claimed = 0
local function claim(dir, digest, fp)
  local keep = ttl
  local dir_ttl = redis.call('TTL', dir)
  if dir_ttl > keep then keep = dir_ttl end
  local st = lh_state(dir)
  local key = dir .. ':' .. lh_index(st, digest_hash(digest))
  if redis.call('HSETNX', key, digest, fp) == 1 then
    if redis.call('TTL', key) < keep then redis.call('EXPIRE', key, keep) end
    lh_grow(dir, st, 1, keep, digest_hash, nil, IDS_LOAD)
    claimed = claimed + 1
  end
end
for i = 3, #ARGV, 3 do
  if ARGV[2] == 's' or redis.call('HDEL', old, ARGV[i]) == 1 then
    for d = 1, #KEYS - 1 do claim(KEYS[d], ARGV[i + 1], ARGV[i + 2]) end
  end
end
if ARGV[2] == 's' then redis.call('DEL', old) end
return claimed
