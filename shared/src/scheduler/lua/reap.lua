-- reap: no ARGV. Ends overdue leases (bounded), then hands out up to 1000 recorded expiries,
-- including those found by `claim`. Returns {more, record...}: `more` is 1 when overdue leases
-- or records remain (call again); a record is
-- "task job tenant db lane max_attempts attempt requeued(0|1)".

local REPORT_BATCH = 1000
local now = clock()
local more = reap_expired(now)
local records = redis.call('LRANGE', EXPIRED, 0, REPORT_BATCH - 1)
if #records > 0 then
  redis.call('LTRIM', EXPIRED, #records, -1)
  -- Requeued tasks may be claimable now.
  wake('reap')
end
if redis.call('EXISTS', EXPIRED) == 1 then
  more = true
end
local out = { more and 1 or 0 }
for i, r in ipairs(records) do
  out[i + 1] = r
end
return out
