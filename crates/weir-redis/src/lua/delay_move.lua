-- Moves delayed entries that are due to their partition streams, atomically:
-- each entry moves once however many workers run this at the same time.
-- KEYS[1] due set, KEYS[2] entry data, KEYS[3] topic metadata,
-- KEYS[4..] the topic's partition streams (partition i at KEYS[4 + i]).
-- ARGV[1] most entries to move, ARGV[2] max stream length (0: keep all).
-- Returns {partition, entry id, ...}. Entries of a deleted topic are dropped.
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local ts = now[1] .. string.format('%03d', math.floor(tonumber(now[2]) / 1000))
local partitions = tonumber(redis.call('HGET', KEYS[3], 'partitions') or '0')
local out = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ms, 'LIMIT', 0, tonumber(ARGV[1]))) do
  redis.call('ZREM', KEYS[1], id)
  local names = {id .. ':p', id .. ':v', id .. ':k', id .. ':h'}
  local f = redis.call('HMGET', KEYS[2], unpack(names))
  redis.call('HDEL', KEYS[2], unpack(names))
  local p = tonumber(f[1])
  if p and p < partitions and KEYS[4 + p] then
    local args = {KEYS[4 + p]}
    if tonumber(ARGV[2]) > 0 then
      args[#args + 1] = 'MAXLEN'; args[#args + 1] = '~'; args[#args + 1] = ARGV[2]
    end
    args[#args + 1] = '0-*'
    args[#args + 1] = 't'; args[#args + 1] = ts
    args[#args + 1] = 'v'; args[#args + 1] = f[2] or ''
    if f[3] then args[#args + 1] = 'k'; args[#args + 1] = f[3] end
    if f[4] then args[#args + 1] = 'h'; args[#args + 1] = f[4] end
    out[#out + 1] = p
    out[#out + 1] = redis.call('XADD', unpack(args))
  end
end
return out
