-- Stores a delayed entry. KEYS[1] due set, KEYS[2] entry data, KEYS[3] id
-- counter, KEYS[4] topic metadata. ARGV[1] due (ms since the epoch),
-- ARGV[2] partition, ARGV[3] the encoded message.
-- Returns 0, or 1 if the topic does not exist.
if redis.call('EXISTS', KEYS[4]) == 0 then return 1 end
local id = tostring(redis.call('INCR', KEYS[3]))
redis.call('HSET', KEYS[2], id .. ':p', ARGV[2], id .. ':m', ARGV[3])
redis.call('ZADD', KEYS[1], ARGV[1], id)
return 0
