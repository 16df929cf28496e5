-- Appends messages to one partition's stream with dense offsets: entry ids
-- are 0-1, 0-2, ... (XADD with the id 0-*: the server numbers them), so the
-- message at offset n has the id 0-(n+1).
-- KEYS[1] topic metadata hash, KEYS[2] the partition's stream
-- ARGV[1] partition index, ARGV[2] max stream length (0: keep all),
-- ARGV[3..] one encoded message each (stored in the field `m`).
-- Returns {0, id of the first entry}, {1} (no such topic) or {2, partitions}.
local partitions = tonumber(redis.call('HGET', KEYS[1], 'partitions'))
if not partitions then return {1} end
if tonumber(ARGV[1]) >= partitions then return {2, partitions} end
local first = false
if tonumber(ARGV[2]) > 0 then
  for i = 3, #ARGV do
    local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '0-*', 'm', ARGV[i])
    if not first then first = id end
  end
else
  for i = 3, #ARGV do
    local id = redis.call('XADD', KEYS[2], '0-*', 'm', ARGV[i])
    if not first then first = id end
  end
end
return {0, first}
