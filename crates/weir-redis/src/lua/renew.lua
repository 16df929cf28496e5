-- Renews partition leases the member holds (called with the leases of one
-- slot: one partition's, on a cluster).
-- KEYS: leases. ARGV[1] member, ARGV[2] lease time to live (ms).
-- Returns one flag per lease: 1 renewed, 0 the member does not hold it.
local out = {}
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then
    redis.call('PEXPIRE', KEYS[i], ARGV[2])
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
