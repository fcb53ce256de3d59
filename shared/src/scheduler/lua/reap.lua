-- reap: no ARGV. Ends overdue leases (bounded), audits the database slots, then hands out up to
-- 1000 recorded expiries, including those found by `claim`. Returns {more, record...}: `more` is
-- 1 when overdue leases or records remain (call again); a record is
-- "task job tenant db lane max_attempts attempt requeued(0|1)".

local REPORT_BATCH = 1000
-- Leases are bounded by the limits (workerSize × clusterSize, plus any excess left by a lowered
-- limit); past this many something else is wrong and the audit would only slow Redis down.
local AUDIT_MAX = 10000

-- DBRUN counts, per database, the leases of running tasks: every script that takes or ends a
-- lease changes both. A lost key breaks that (DBRUN without LEASES, a lease whose task is gone),
-- and a slot counted for nothing would shrink workerSize, or with clusterSize keep a database
-- "worked on" for good. So both are recomputed from the tasks themselves: O(running tasks).
-- Returns whether a slot was freed.
local function audit_slots()
  if redis.call('ZCARD', LEASES) > AUDIT_MAX then
    return false
  end
  local freed = false
  local counts = {}
  for _, id in ipairs(redis.call('ZRANGE', LEASES, 0, -1)) do
    local h = redis.call('HMGET', task_key(id), 'state', 'db')
    if h[1] == 'running' then
      counts[h[2]] = (counts[h[2]] or 0) + 1
    else
      redis.call('ZREM', LEASES, id)
    end
  end
  local stored = redis.call('HGETALL', DBRUN)
  for i = 1, #stored, 2 do
    local db = stored[i]
    local stored_n = tonumber(stored[i + 1])
    if not counts[db] then
      redis.call('HDEL', DBRUN, db)
      freed = true
    elseif stored_n ~= counts[db] then
      redis.call('HSET', DBRUN, db, int(counts[db]))
      freed = freed or counts[db] < stored_n
    end
    counts[db] = nil
  end
  for db, n in pairs(counts) do
    redis.call('HSET', DBRUN, db, int(n))
  end
  return freed
end

local now = clock()
local more = reap_expired(now)
local freed = audit_slots()
local records = redis.call('LRANGE', EXPIRED, 0, REPORT_BATCH - 1)
if #records > 0 then
  redis.call('LTRIM', EXPIRED, #records, -1)
end
if #records > 0 or freed then
  -- Requeued tasks, or tasks waiting for a slot, may be claimable now.
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
