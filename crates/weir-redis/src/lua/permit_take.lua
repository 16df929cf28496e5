-- Takes one of a name's permits, or renews the holder's.
-- KEYS[1]: the name's holders (sorted set, score: when the lease ends, ms).
-- ARGV[1] holder, ARGV[2] limit, ARGV[3] lease (ms).
-- Returns 1 if the holder holds a permit now, 0 if the limit is reached.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if not redis.call('ZSCORE', KEYS[1], ARGV[1])
   and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
-- Every lease is as long, so the last one taken ends last.
redis.call('PEXPIRE', KEYS[1], lease)
return 1
