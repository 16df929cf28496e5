-- Moves delayed entries that are due to their partition streams, atomically:
-- each entry moves once however many workers run this at the same time.
-- KEYS[1] due set, KEYS[2] entry data, KEYS[3] topic metadata,
-- KEYS[4..] the topic's partition streams (partition i at KEYS[4 + i]).
-- ARGV[1] most entries to move, ARGV[2] max stream length (0: keep all).
-- Returns {partition, entry id, ...}. Entries of a deleted topic are dropped.
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local partitions = tonumber(redis.call('HGET', KEYS[3], 'partitions') or '0')
local out = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ms, 'LIMIT', 0, tonumber(ARGV[1]))) do
  redis.call('ZREM', KEYS[1], id)
  local f = redis.call('HMGET', KEYS[2], id .. ':p', id .. ':m')
  redis.call('HDEL', KEYS[2], id .. ':p', id .. ':m')
  local p = tonumber(f[1])
  if p and f[2] and p < partitions and KEYS[4 + p] then
    local sid
    if tonumber(ARGV[2]) > 0 then
      sid = redis.call('XADD', KEYS[4 + p], 'MAXLEN', '~', ARGV[2], '0-*', 'm', f[2])
    else
      sid = redis.call('XADD', KEYS[4 + p], '0-*', 'm', f[2])
    end
    out[#out + 1] = p
    out[#out + 1] = sid
  end
end
return out
