-- enqueue: ARGV = (task, job, tenant, db, lane, max_attempts) repeated, at most 1000 tasks.
-- A task the queue already knows (queued, delayed or running) keeps its place, so the control
-- plane can re-enqueue whatever it believes is outstanding; if a lost key left it where no claim
-- would ever find it, it is queued again (see `repair`). Returns the number of tasks added.

-- Puts a known task back where its state says it is, if a lost key took it out of there: out of
-- its pending set or its database out of the ready set (never claimed), out of the delayed set
-- (never promoted), running without a lease (never reaped; its worker learns at its next
-- renewal that the lease is gone), or missing from its tenant's order (blocked behind others).
-- A slot a lost lease leaves counted is corrected by `reap`'s audit.
local function repair(id, t)
  local requeue
  if t.state == 'pending' then
    requeue = not redis.call('ZSCORE', pending_key(t.lane, t.db), id)
      or not redis.call('ZSCORE', ready_key(t.lane), t.db)
  elseif t.state == 'delayed' then
    requeue = not redis.call('ZSCORE', DELAYED, id)
  elseif t.state == 'running' then
    requeue = not redis.call('ZSCORE', LEASES, id)
  end
  if not redis.call('LPOS', tenant_key(t.tenant), id) then
    if t.state == 'running' and not requeue then
      redis.call('LPUSH', tenant_key(t.tenant), id)
    else
      redis.call('RPUSH', tenant_key(t.tenant), id)
    end
  end
  if requeue then
    push_pending(id, t.lane, t.db, t.seq)
  end
  return requeue
end

local added, repaired = 0, 0
for i = 1, #ARGV, 6 do
  local id, job, tenant, db, lane, max = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5]
  local tk = task_key(id)
  local t = load_task(id)
  if not t then
    local seq = int(redis.call('INCR', SEQ))
    redis.call('HSET', tk, 'job', job, 'tenant', tenant, 'db', db, 'lane', lane, 'max', max,
      'attempts', 0, 'seq', seq, 'state', 'pending')
    -- The tenant's order spans both lanes: only the head of this list may run.
    redis.call('RPUSH', tenant_key(tenant), id)
    push_pending(id, lane, db, seq)
    added = added + 1
  elseif repair(id, t) then
    repaired = repaired + 1
  end
end
if added + repaired > 0 then
  redis.call('PUBLISH', WAKE, 'enqueue')
end
return added
