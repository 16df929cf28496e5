-- KEYS[1] topic metadata, KEYS[2] topic set, KEYS[3..] the partitions'
-- streams. ARGV[1] name, ARGV[2] partitions.
-- Creates every partition's stream, empty (producers append only to streams
-- that exist, so a deleted topic's partitions are not made again).
-- Returns 0, or 1 if the topic exists.
if redis.call('EXISTS', KEYS[1]) == 1 then return 1 end
redis.call('HSET', KEYS[1], 'partitions', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[1])
for i = 3, #KEYS do
  redis.call('XGROUP', 'CREATE', KEYS[i], 'weir-creating', '$', 'MKSTREAM')
  redis.call('XGROUP', 'DESTROY', KEYS[i], 'weir-creating')
end
return 0
