-- Tells the group that a member gave leases up (bumping its epoch, so the
-- others look again), or leaves the group entirely.
-- KEYS[1] members, KEYS[2] subscriptions, KEYS[3] epoch.
-- ARGV[1] member, ARGV[2] '1' to leave the group, ARGV[3] '1' if leases
-- were given up.
if ARGV[2] == '1' then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
end
if ARGV[2] == '1' or ARGV[3] == '1' then redis.call('INCR', KEYS[3]) end
return 0
