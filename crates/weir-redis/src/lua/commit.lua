-- Commits offsets of partitions the member owns, and acknowledges the
-- entries each commit covers in the group's pending list.
-- KEYS: per partition: its lease, its offsets hash, its stream (on a
-- cluster, one partition per call: its keys share a slot).
-- ARGV[1] group, ARGV[2] member, ARGV[3] lease time to live (ms), then per
-- partition: offsets field (the group), offset, k, and the ids of the k entries it passes (the
-- client spells them out, which is cheaper than making them here). k = -1
-- asks to acknowledge every pending entry whose messages precede the offset instead (for
-- long runs).
-- Returns 0, or the 1-based position of a partition the member does not own
-- (then nothing is committed).
local function ack_pending_below(stream, group, offset)
  local last = '0-' .. string.format('%.0f', offset)
  repeat
    local pending = redis.call('XPENDING', stream, group, '-', last, 1000)
    local ids = {}
    for _, e in ipairs(pending) do ids[#ids + 1] = e[1] end
    if #ids > 0 then redis.call('XACK', stream, group, unpack(ids)) end
  until #pending < 1000
end
local n = #KEYS / 3
for i = 0, n - 1 do
  if redis.call('GET', KEYS[i * 3 + 1]) ~= ARGV[2] then return i + 1 end
end
local a = 4
for i = 0, n - 1 do
  local field, offset, k = ARGV[a], ARGV[a + 1], tonumber(ARGV[a + 2])
  local stream = KEYS[i * 3 + 3]
  redis.call('HSET', KEYS[i * 3 + 2], field, offset)
  redis.call('PEXPIRE', KEYS[i * 3 + 1], ARGV[3])
  if k < 0 then
    ack_pending_below(stream, ARGV[1], tonumber(offset))
    k = 0
  end
  local first, last = a + 3, a + 2 + k
  while first <= last do
    local upto = math.min(first + 999, last)
    redis.pcall('XACK', stream, ARGV[1], unpack(ARGV, first, upto))
    first = upto + 1
  end
  a = a + 3 + k
end
return 0
