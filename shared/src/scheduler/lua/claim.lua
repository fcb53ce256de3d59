-- claim: ARGV = worker, lease_ms, fallback worker_size, fallback cluster_size, scan depth,
-- provisioning burst.
-- Reaps overdue leases and promotes due retries first (both bounded), then picks the next task
-- within the limits. Returns {task, job, tenant, db, lane, max_attempts, token, attempt} or nil.
--
-- Cost: at most 4 × depth pending members examined (plus the active databases and at most
-- MAX_READY_DBS idle ones), never O(backlog): pending sets are ZSETs by enqueue sequence, so the
-- scan reads their heads and removal is by member.

local worker, lease_ms = ARGV[1], tonumber(ARGV[2])
local depth, burst = tonumber(ARGV[5]), tonumber(ARGV[6])
local now, now_us = clock()

reap_expired(now)
promote_delayed(now)

-- Limits live in Redis so operators can change them at runtime. If they are missing (first
-- start, or the data was lost), this process' configured limits apply and are written back.
local cfg = redis.call('HMGET', CONFIG, 'worker_size', 'cluster_size')
if not cfg[1] then
  redis.call('HSETNX', CONFIG, 'worker_size', ARGV[3])
end
if not cfg[2] then
  redis.call('HSETNX', CONFIG, 'cluster_size', ARGV[4])
end
local W = tonumber(cfg[1] or ARGV[3])
local C = tonumber(cfg[2] or ARGV[4])

-- Databases with running tasks; bounded by clusterSize (plus any excess left by a lowered limit).
local running = redis.call('HGETALL', DBRUN)
local active, n_active = {}, 0
for i = 1, #running, 2 do
  active[running[i]] = tonumber(running[i + 1])
  n_active = n_active + 1
end

-- Members examined by this claim across all databases and lanes: bounds the pathological case
-- of many databases whose queues start with long runs of blocked tenants (e.g. a second upgrade
-- queued behind a first one waiting for retries).
local budget = depth * 4

-- The first task within `depth` of a database's pending set whose tenant has nothing older
-- outstanding. Returns id and sequence, or nil.
local function first_eligible(lane, db)
  local pk = pending_key(lane, db)
  local offset = 0
  while offset < depth and budget > 0 do
    local chunk = math.min(SCAN_CHUNK, depth - offset, budget)
    budget = budget - chunk
    local ids = redis.call('ZRANGE', pk, offset, offset + chunk - 1, 'WITHSCORES')
    local dropped = 0
    for i = 1, #ids, 2 do
      local id = ids[i]
      local tenant = redis.call('HGET', task_key(id), 'tenant')
      if not tenant then
        -- A member without its task (keys evicted or deleted by hand): drop it for good.
        remove_pending(id, lane, db)
        dropped = dropped + 1
      elseif is_tenant_head(tenant, id) then
        return id, tonumber(ids[i + 1])
      end
    end
    if #ids < chunk * 2 then
      return nil
    end
    offset = offset + chunk - dropped
  end
  return nil
end

-- The oldest eligible task of `lane`. Databases already being worked on go first: it keeps the
-- working set within clusterSize and drains them. Idle databases only if clusterSize allows,
-- visited oldest head first, stopping once no database can beat the best candidate.
local function pick(lane)
  local best_id, best_seq, best_db
  local function consider(db)
    local id, seq = first_eligible(lane, db)
    if id and (not best_seq or seq < best_seq) then
      best_id, best_seq, best_db = id, seq, db
    end
  end
  for db, n in pairs(active) do
    if n < W then
      consider(db)
    end
  end
  if best_id or n_active >= C then
    return best_id, best_db
  end
  local dbs = redis.call('ZRANGE', ready_key(lane), 0, MAX_READY_DBS - 1, 'WITHSCORES')
  for i = 1, #dbs, 2 do
    local db, head = dbs[i], tonumber(dbs[i + 1])
    if best_seq and head >= best_seq then
      break
    end
    if not active[db] then
      consider(db)
    end
  end
  return best_id, best_db
end

-- Provisioning first, except that after `burst` provisioning claims in a row while bulk work
-- waits, bulk goes first once, so a stream of subscriptions cannot starve an upgrade.
local streak = tonumber(redis.call('GET', STREAK) or '0')
local lanes = { 'provisioning', 'bulk' }
if streak >= burst then
  lanes = { 'bulk', 'provisioning' }
end
local lane, id, db
for _, l in ipairs(lanes) do
  id, db = pick(l)
  if id then
    lane = l
    break
  end
end
if not id then
  return nil
end

if lane == 'provisioning' and redis.call('EXISTS', ready_key('bulk')) == 1 then
  redis.call('SET', STREAK, int(streak + 1))
else
  redis.call('DEL', STREAK)
end

remove_pending(id, lane, db)
redis.call('HINCRBY', DBRUN, db, 1)
-- Fencing tokens keep increasing even if the queue's data is lost: a missing counter is seeded
-- from the clock in microseconds, above any token handed out before.
redis.call('SET', FENCE, int(now_us), 'NX')
local token = int(redis.call('INCR', FENCE))
local attempt = redis.call('HINCRBY', task_key(id), 'attempts', 1)
redis.call('HSET', task_key(id), 'state', 'running', 'token', token, 'worker', worker)
redis.call('ZADD', LEASES, int(now + lease_ms), id)

local t = load_task(id)
return { id, t.job, t.tenant, t.db, t.lane, t.max, token, int(attempt) }
