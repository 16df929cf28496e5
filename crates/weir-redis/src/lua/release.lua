-- Gives up partition leases the member holds (called with the leases of
-- one slot: one partition's, on a cluster). `leave.lua` then tells the group.
-- KEYS: leases. ARGV[1] member.
-- Returns how many leases were given up.
local released = 0
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then
    redis.call('DEL', KEYS[i])
    released = released + 1
  end
end
return released
