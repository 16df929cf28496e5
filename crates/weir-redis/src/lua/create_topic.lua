-- KEYS[1] topic metadata, KEYS[2] topic set. ARGV[1] name, ARGV[2] partitions.
-- Returns 0, or 1 if the topic exists.
if redis.call('EXISTS', KEYS[1]) == 1 then return 1 end
redis.call('HSET', KEYS[1], 'partitions', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[1])
return 0
