-- One step of a generic cell rate algorithm for one sender, on Redis's own clock: the
-- sender's key holds its theoretical arrival time (ms). `interval`: ms between requests
-- at the sustained rate; `window`: the burst window in ms. Returns nil (allowed, and
-- counted) or the ms to wait (refused, not counted).
local function gcra_step(key, interval, window)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  local new_tat = tat + interval
  local wait = new_tat - window - now
  if wait > 0 then return math.ceil(wait) end
  redis.call('SET', key, string.format('%.3f', new_tat), 'PX', math.ceil(new_tat - now))
  return nil
end
