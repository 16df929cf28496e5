-- Stores a delayed message of one partition. KEYS[1] due set, KEYS[2]
-- entry data, KEYS[3] id counter, KEYS[4] the partition's stream.
-- ARGV[1] due (ms since the epoch), ARGV[2] the encoded message.
-- Returns 0, or 1 if the partition's stream does not exist (no such topic).
if redis.call('EXISTS', KEYS[4]) == 0 then return 1 end
local id = tostring(redis.call('INCR', KEYS[3]))
redis.call('HSET', KEYS[2], id, ARGV[2])
redis.call('ZADD', KEYS[1], ARGV[1], id)
return 0
