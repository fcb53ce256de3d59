-- enqueue: ARGV = (task, job, tenant, db, lane, max_attempts) repeated, at most 1000 tasks.
-- A task the queue already knows (queued, delayed or running) is left alone, so the control
-- plane can re-enqueue whatever it believes is outstanding. Returns the number of tasks added.

local added = 0
for i = 1, #ARGV, 6 do
  local id, job, tenant, db, lane, max = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5]
  local tk = task_key(id)
  if redis.call('EXISTS', tk) == 0 then
    local seq = int(redis.call('INCR', SEQ))
    redis.call('HSET', tk, 'job', job, 'tenant', tenant, 'db', db, 'lane', lane, 'max', max,
      'attempts', 0, 'seq', seq, 'state', 'pending')
    -- The tenant's order spans both lanes: only the head of this list may run.
    redis.call('RPUSH', tenant_key(tenant), id)
    push_pending(id, lane, db, seq)
    added = added + 1
  end
end
if added > 0 then
  redis.call('PUBLISH', WAKE, 'enqueue')
end
return added
