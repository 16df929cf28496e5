-- Appends a run of messages to a partition's stream as one entry, numbering
-- it atomically: the partition's counter rises by the run's length, and the
-- entry's id is `0-{new count}` (the offset after its last message).
-- KEYS[1] stream, KEYS[2] its counter.
-- ARGV[1] messages in the run, ARGV[2] the run,
-- ARGV[3] newest messages to keep in the stream (0: keep all).
-- Returns the new count, or false when the stream is gone (its topic was
-- deleted, or never had this partition): nothing is made again.
local e = redis.call('INCRBY', KEYS[2], ARGV[1])
local id = string.format('0-%.0f', e)
local keep = tonumber(ARGV[3])
local added
if keep > 0 and e > keep then
  -- Entries whose messages all precede the newest `keep` go (roughly: `~`).
  local min = string.format('0-%.0f', e - keep)
  added = redis.call('XADD', KEYS[1], 'NOMKSTREAM', 'MINID', '~', min, id, 'n', ARGV[1], 'm', ARGV[2])
else
  added = redis.call('XADD', KEYS[1], 'NOMKSTREAM', id, 'n', ARGV[1], 'm', ARGV[2])
end
if not added then
  redis.call('DEL', KEYS[2])
  return false
end
return e
