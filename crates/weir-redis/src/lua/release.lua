-- Gives up partition leases the member holds, or leaves the group entirely.
-- KEYS[1] members, KEYS[2] subscriptions, KEYS[3] epoch, KEYS[4..] leases.
-- ARGV[1] member, ARGV[2] '1' to leave the group as well.
local changed = false
for i = 4, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then
    redis.call('DEL', KEYS[i])
    changed = true
  end
end
if ARGV[2] == '1' then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
  changed = true
end
if changed then redis.call('INCR', KEYS[3]) end
return 0
