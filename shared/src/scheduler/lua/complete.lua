-- complete: ARGV = task, token, outcome ('done' | 'retry' | 'handback'), backoff_ms.
-- Ends the claim made under `token`, releasing its database slot. Returns 1, or 0 when the
-- token is not the current claim's (the lease was lost): then nothing changes.

local id, token, outcome, backoff_ms = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local t = load_task(id)
if not t or t.state ~= 'running' or t.token ~= token then
  return 0
end

redis.call('ZREM', LEASES, id)
release_slot(t.db)
if outcome == 'done' then
  t.state = 'finished' -- already out of LEASES
  forget(id, t)
elseif outcome == 'retry' then
  -- Stays its tenant's head while it waits, so the tenant's later tasks keep waiting too.
  local now = clock()
  redis.call('HSET', task_key(id), 'state', 'delayed')
  redis.call('HDEL', task_key(id), 'token', 'worker')
  redis.call('ZADD', DELAYED, int(now + backoff_ms), id)
elseif outcome == 'handback' then
  -- Graceful shutdown: the attempt does not count.
  if tonumber(t.attempts) > 0 then
    redis.call('HINCRBY', task_key(id), 'attempts', -1)
  end
  push_pending(id, t.lane, t.db, t.seq)
else
  return redis.error_reply('unknown outcome ' .. tostring(outcome))
end
wake('complete')
return 1
