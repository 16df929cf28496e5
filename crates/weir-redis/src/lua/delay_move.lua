-- Moves a partition's delayed messages that are due to its stream,
-- atomically: each moves once however many workers run this at the same
-- time. Each is appended as an entry of its own, numbered as the append
-- script does.
-- KEYS[1] due set, KEYS[2] message data, KEYS[3] the stream, KEYS[4] its
-- counter. ARGV[1] most messages to move, ARGV[2] newest messages to keep
-- in the stream (0: keep all).
-- Returns {end, ...} (end: the offset after the moved message). Messages of
-- a deleted topic are dropped.
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local keep = tonumber(ARGV[2])
local exists = redis.call('EXISTS', KEYS[3]) == 1
local out = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ms, 'LIMIT', 0, tonumber(ARGV[1]))) do
  redis.call('ZREM', KEYS[1], id)
  local m = redis.call('HGET', KEYS[2], id)
  redis.call('HDEL', KEYS[2], id)
  if m and exists then
    local e = redis.call('INCR', KEYS[4])
    local sid = string.format('0-%.0f', e)
    if keep > 0 and e > keep then
      local min = string.format('0-%.0f', e - keep)
      redis.call('XADD', KEYS[3], 'MINID', '~', min, sid, 'n', '1', 'm', m)
    else
      redis.call('XADD', KEYS[3], sid, 'n', '1', 'm', m)
    end
    out[#out + 1] = e
  end
end
return out
