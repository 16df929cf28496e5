-- Takes partition leases that are free (or already this member's).
-- KEYS: leases. ARGV[1] member, ARGV[2] lease time to live (ms).
-- Returns one flag per lease: 1 held by the member now, 0 someone else holds it.
local out = {}
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then
    redis.call('PEXPIRE', KEYS[i], ARGV[2])
    out[i] = 1
  elseif redis.call('SET', KEYS[i], ARGV[1], 'NX', 'PX', ARGV[2]) then
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
