-- renew: ARGV = lease_ms, then (task, token) pairs, at most 1000.
-- Extends each lease that is still held under that token and not yet expired. Returns one
-- state per pair: 0 lost, 1 held, 2 held but a cancel was requested.

local lease_ms = tonumber(ARGV[1])
local now = clock()
local out = {}
for i = 2, #ARGV, 2 do
  local id, token = ARGV[i], ARGV[i + 1]
  local h = redis.call('HMGET', task_key(id), 'state', 'token', 'cancel')
  local expiry = redis.call('ZSCORE', LEASES, id)
  if h[1] == 'running' and h[2] == token and expiry and tonumber(expiry) > now then
    redis.call('ZADD', LEASES, 'XX', int(now + lease_ms), id)
    out[#out + 1] = (h[3] == '1') and 2 or 1
  else
    out[#out + 1] = 0
  end
end
return out
