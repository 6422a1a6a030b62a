-- Stores a new configuration version with its audit entry.
-- KEYS: 1 the configuration, 2 its version, 3 the audit list
-- ARGV: 1 the configuration (JSON), 2 the version the caller expects (-1: any), 3 the audit
--       entry (JSON; its `version` is set here), 4 audit entries kept
-- Returns the new version, or -1 if the stored version is not the expected one.
local current = tonumber(redis.call('GET', KEYS[2]) or '0')
if tonumber(ARGV[2]) >= 0 and tonumber(ARGV[2]) ~= current then return -1 end
redis.call('SET', KEYS[1], ARGV[1])
local version = redis.call('INCR', KEYS[2])
local entry = cjson.decode(ARGV[3])
entry['version'] = version
redis.call('LPUSH', KEYS[3], cjson.encode(entry))
redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[4]) - 1)
return version
