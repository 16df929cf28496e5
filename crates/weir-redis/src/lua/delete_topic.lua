-- KEYS[1] topic metadata, KEYS[2] topic set, KEYS[3..] the topic's other keys
-- (offsets, delayed messages, streams and their counters). ARGV[1] name.
-- Returns 0, or 1 if the topic does not exist.
if redis.call('EXISTS', KEYS[1]) == 0 then return 1 end
for i = 3, #KEYS do redis.call('DEL', KEYS[i]) end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
return 0
