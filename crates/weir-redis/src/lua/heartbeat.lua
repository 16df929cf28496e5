-- Renews a group member and drops members whose session ran out. (The
-- member's partition leases are renewed by `renew.lua`, one partition at a
-- time: on a cluster they live in other slots.)
-- KEYS[1] members (sorted set scored by expiry ms), KEYS[2] subscriptions
-- hash, KEYS[3] epoch counter.
-- ARGV[1] member, ARGV[2] session timeout (ms), ARGV[3] its subscription.
-- Returns {epoch, {member, subscription, ...}}.
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local changed = false
if redis.call('ZADD', KEYS[1], ms + tonumber(ARGV[2]), ARGV[1]) == 1 then changed = true end
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[3] then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
  changed = true
end
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ms)) do
  redis.call('ZREM', KEYS[1], m)
  redis.call('HDEL', KEYS[2], m)
  changed = true
end
if changed then redis.call('INCR', KEYS[3]) end
local members = {}
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  members[#members + 1] = m
  members[#members + 1] = redis.call('HGET', KEYS[2], m) or ''
end
return {tonumber(redis.call('GET', KEYS[3]) or '0'), members}
