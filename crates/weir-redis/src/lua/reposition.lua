-- Positions a group on a partition the member has just leased (or sought):
-- reclaims pending entries of departed members (XAUTOCLAIM), acknowledges
-- pending entries before the position, reports the delivery counts of the
-- entries that will be delivered again, and moves the group's last-delivered
-- id so XREADGROUP > reads from the position.
-- KEYS[1] stream, KEYS[2] its offsets hash, KEYS[3] lease (one slot)
-- ARGV[1] group, ARGV[2] member, ARGV[3] offsets field (the group),
-- ARGV[4] 'e' (committed, else earliest), 'l' (committed, else latest) or 's' (ARGV[5]),
-- ARGV[5] sought offset, ARGV[6] idle time (ms) after which an empty consumer is removed,
-- ARGV[7] the reset policy for a position past the end: 'e' (earliest) or 'l' (latest).
-- Entry ids are `0-{end}`, end being the offset after the entry's last
-- message; field `n` says how many messages it holds.
-- Returns {-1} when the member does not hold the lease, else
-- {position, entry end, prior deliveries, entry end, prior deliveries, ...}
-- for the pending entries holding messages from the position on.
local function id(offset) return '0-' .. string.format('%.0f', offset) end
local function seq(entry_id) return tonumber(string.match(entry_id, '%-(%d+)$')) end
-- How many messages an entry's field list says it holds (1 if it says nothing).
local function count(fields)
  for i = 1, #fields, 2 do
    if fields[i] == 'n' then return tonumber(fields[i + 1]) or 1 end
  end
  return 1
end
if redis.call('GET', KEYS[3]) ~= ARGV[2] then return {-1} end
redis.pcall('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')
local info = redis.call('XINFO', 'STREAM', KEYS[1])
local last, first = 0, false
for i = 1, #info, 2 do
  if info[i] == 'last-generated-id' then last = seq(info[i + 1]) end
  if info[i] == 'first-entry' and info[i + 1] then
    first = seq(info[i + 1][1]) - count(info[i + 1][2])
  end
end
local pos
if ARGV[4] == 's' then
  pos = tonumber(ARGV[5])
else
  local committed = redis.call('HGET', KEYS[2], ARGV[3])
  if committed then pos = tonumber(committed)
  elseif ARGV[4] == 'l' then pos = last
  else pos = first or last end
end
if first and pos < first then pos = first end
-- A position past the end is out of range: the reset policy's, as on Kafka.
if pos > last then
  if ARGV[7] == 'l' then pos = last else pos = first or last end
end
-- Reclaim what departed members left pending from the position on.
local cursor = id(pos + 1)
repeat
  local r = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, cursor, 'COUNT', 1000, 'JUSTID')
  cursor = r[1]
until cursor == '0-0'
-- Entries whose messages all precede the position will not be delivered again.
if pos > 0 then
  repeat
    local pending = redis.call('XPENDING', KEYS[1], ARGV[1], '-', id(pos), 1000)
    local ids = {}
    for _, e in ipairs(pending) do ids[#ids + 1] = e[1] end
    if #ids > 0 then redis.call('XACK', KEYS[1], ARGV[1], unpack(ids)) end
  until #pending < 1000
end
local out = {pos}
for _, e in ipairs(redis.call('XPENDING', KEYS[1], ARGV[1], id(pos + 1), '+', 10000)) do
  out[#out + 1] = seq(e[1])
  out[#out + 1] = e[4]
end
-- Departed consumers with nothing pending are forgotten.
for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local name, pending, idle
  for i = 1, #c, 2 do
    if c[i] == 'name' then name = c[i + 1] end
    if c[i] == 'pending' then pending = c[i + 1] end
    if c[i] == 'idle' then idle = c[i + 1] end
  end
  if name ~= ARGV[2] and pending == 0 and idle > tonumber(ARGV[6]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], name)
  end
end
redis.call('XGROUP', 'SETID', KEYS[1], ARGV[1], id(pos))
return out
