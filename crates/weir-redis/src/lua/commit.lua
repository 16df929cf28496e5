-- Commits offsets of partitions the member owns, and acknowledges the
-- entries each commit covers in the group's pending list.
-- KEYS: per partition: its lease, the topic's offsets hash, its stream.
-- ARGV[1] group, ARGV[2] member, ARGV[3] lease time to live (ms),
-- then per partition: offsets field, offset, first offset not yet acknowledged.
-- Returns 0, or the 1-based position of a partition the member does not own
-- (then nothing is committed).
local function id(offset)
  -- Lua prints integers below 1e14 exactly; larger ones need the format.
  if offset < 1e14 then return '0-' .. offset end
  return '0-' .. string.format('%.0f', offset)
end
local function ack(stream, group, from, to)
  if to <= from then return end
  if to - from > 100000 then
    repeat
      local pending = redis.call('XPENDING', stream, group, '-', id(to), 1000)
      local ids = {}
      for _, e in ipairs(pending) do ids[#ids + 1] = e[1] end
      if #ids > 0 then redis.call('XACK', stream, group, unpack(ids)) end
    until #pending < 1000
    return
  end
  local ids = {}
  for o = from, to - 1 do
    ids[#ids + 1] = id(o + 1)
    if #ids == 1000 then
      redis.pcall('XACK', stream, group, unpack(ids))
      ids = {}
    end
  end
  if #ids > 0 then redis.pcall('XACK', stream, group, unpack(ids)) end
end
local n = #KEYS / 3
for i = 0, n - 1 do
  if redis.call('GET', KEYS[i * 3 + 1]) ~= ARGV[2] then return i + 1 end
end
for i = 0, n - 1 do
  local field, offset, from = ARGV[4 + i * 3], ARGV[5 + i * 3], ARGV[6 + i * 3]
  redis.call('HSET', KEYS[i * 3 + 2], field, offset)
  redis.call('PEXPIRE', KEYS[i * 3 + 1], ARGV[3])
  ack(KEYS[i * 3 + 3], ARGV[1], tonumber(from), tonumber(offset))
end
return 0
