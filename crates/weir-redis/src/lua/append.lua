-- Appends messages to one partition's stream with dense offsets: entry ids
-- are 0-1, 0-2, ... so the message at offset n has id 0-(n+1).
-- KEYS[1] topic metadata hash, KEYS[2] the partition's stream
-- ARGV[1] partition index, ARGV[2] max stream length (0: keep all),
-- then per message: its field count n and n field/value pairs.
-- Returns {0, id of the first entry}, {1} (no such topic) or {2, partitions}.
local partitions = tonumber(redis.call('HGET', KEYS[1], 'partitions'))
if not partitions then return {1} end
if tonumber(ARGV[1]) >= partitions then return {2, partitions} end
local now = redis.call('TIME')
local ts = now[1] .. string.format('%03d', math.floor(tonumber(now[2]) / 1000))
local maxlen = tonumber(ARGV[2])
local first = false
local i = 3
while i <= #ARGV do
  local n = tonumber(ARGV[i])
  local args = {KEYS[2]}
  if maxlen > 0 then
    args[#args + 1] = 'MAXLEN'; args[#args + 1] = '~'; args[#args + 1] = ARGV[2]
  end
  args[#args + 1] = '0-*'
  args[#args + 1] = 't'; args[#args + 1] = ts
  for j = 1, 2 * n do args[#args + 1] = ARGV[i + j] end
  local id = redis.call('XADD', unpack(args))
  if not first then first = id end
  i = i + 1 + 2 * n
end
return {0, first}
