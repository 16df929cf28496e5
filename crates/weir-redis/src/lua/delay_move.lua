-- Moves delayed messages that are due to their partition streams, atomically:
-- each moves once however many workers run this at the same time. Each is
-- appended as an entry of its own, numbered as the append script does.
-- KEYS[1] due set, KEYS[2] message data, KEYS[3] topic metadata,
-- KEYS[4..] per partition its stream and its counter (partition i at
-- KEYS[4 + 2i] and KEYS[5 + 2i]).
-- ARGV[1] most messages to move, ARGV[2] newest messages to keep in a stream
-- (0: keep all).
-- Returns {partition, end, ...} (end: the offset after the moved message).
-- Messages of a deleted topic are dropped.
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local partitions = tonumber(redis.call('HGET', KEYS[3], 'partitions') or '0')
local keep = tonumber(ARGV[2])
local out = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ms, 'LIMIT', 0, tonumber(ARGV[1]))) do
  redis.call('ZREM', KEYS[1], id)
  local f = redis.call('HMGET', KEYS[2], id .. ':p', id .. ':m')
  redis.call('HDEL', KEYS[2], id .. ':p', id .. ':m')
  local p = tonumber(f[1])
  local stream, counter
  if p and p < partitions then stream, counter = KEYS[4 + 2 * p], KEYS[5 + 2 * p] end
  if f[2] and counter and redis.call('EXISTS', stream) == 1 then
    local e = redis.call('INCR', counter)
    local sid = string.format('0-%.0f', e)
    if keep > 0 and e > keep then
      local min = string.format('0-%.0f', e - keep)
      redis.call('XADD', stream, 'MINID', '~', min, sid, 'n', '1', 'm', f[2])
    else
      redis.call('XADD', stream, sid, 'n', '1', 'm', f[2])
    end
    out[#out + 1] = p
    out[#out + 1] = e
  end
end
return out
