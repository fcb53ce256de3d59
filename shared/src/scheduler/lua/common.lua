-- Shared prelude of every scheduler script (the Rust side prepends it to each script body).
--
-- KEYS[1] is the hash-tagged base of the key space, e.g. `{mtx}`. Every other key is derived
-- from it, so all keys share one Redis Cluster slot; passing the base as a declared key routes
-- the script to that slot.
--
-- Numbers: Redis' Lua is 5.1 (doubles). Integers up to 2^53 are exact, but `tostring` and
-- redis.call's own conversion may print large ones in exponent form, so every number that goes
-- back into Redis or to the caller passes through `int()` first.

local P = KEYS[1]
local CONFIG = P .. ':config'
local DBRUN = P .. ':dbrun'
local DELAYED = P .. ':delayed'
local EXPIRED = P .. ':expired'
local FENCE = P .. ':fence'
local LEASES = P .. ':leases'
local SEQ = P .. ':seq'
local STREAK = P .. ':streak'
local WAKE = P .. ':wake'

-- Bounds that keep every script call short, whatever the backlog.
local REAP_BATCH = 100       -- expired leases handled per call
local PROMOTE_BATCH = 100    -- due retries moved back to pending per call
local EXPIRED_CAP = 10000    -- unreported expiries kept (nobody reaping for long: oldest dropped)
local SCAN_CHUNK = 50        -- pending members fetched per ZRANGE while scanning a database
local MAX_READY_DBS = 100    -- idle databases considered per claim and lane
local TENANT_REPAIRS = 10    -- stale tenant-order heads dropped per check

local function int(n)
  return string.format('%d', n)
end

local function task_key(id)
  return P .. ':task:' .. id
end

local function tenant_key(tenant)
  return P .. ':tenant:' .. tenant
end

local function pending_key(lane, db)
  return P .. ':pending:' .. lane .. ':' .. db
end

local function ready_key(lane)
  return P .. ':ready:' .. lane
end

-- Redis server time: milliseconds for leases and backoff, microseconds to seed the fence.
local function clock()
  local t = redis.call('TIME')
  local sec, usec = tonumber(t[1]), tonumber(t[2])
  return sec * 1000 + math.floor(usec / 1000), sec * 1000000 + usec
end

local TASK_FIELDS = { 'job', 'tenant', 'db', 'lane', 'max', 'attempts', 'seq', 'state', 'token', 'cancel' }

-- The task hash as a table, or nil when the task is unknown.
local function load_task(id)
  local v = redis.call('HMGET', task_key(id), unpack(TASK_FIELDS))
  if not v[8] then
    return nil
  end
  local t = {}
  for i, name in ipairs(TASK_FIELDS) do
    t[name] = v[i]
  end
  return t
end

-- Queues a known task in its (lane, database) set, ordered by its enqueue sequence. A task that
-- comes back (expired lease, retry, hand-back) keeps its sequence and so its place in line.
local function push_pending(id, lane, db, seq)
  redis.call('HSET', task_key(id), 'state', 'pending')
  redis.call('HDEL', task_key(id), 'token', 'worker')
  redis.call('ZADD', pending_key(lane, db), seq, id)
  -- The ready set scores a database by its oldest pending task; LT keeps the lower score.
  redis.call('ZADD', ready_key(lane), 'LT', seq, db)
end

local function remove_pending(id, lane, db)
  local pk = pending_key(lane, db)
  if redis.call('ZREM', pk, id) == 1 then
    local head = redis.call('ZRANGE', pk, 0, 0, 'WITHSCORES')
    if head[1] then
      redis.call('ZADD', ready_key(lane), head[2], db)
    else
      redis.call('ZREM', ready_key(lane), db)
    end
  end
end

local function release_slot(db)
  if redis.call('HINCRBY', DBRUN, db, -1) <= 0 then
    redis.call('HDEL', DBRUN, db)
  end
end

local function tenant_remove(tenant, id)
  local tk = tenant_key(tenant)
  if redis.call('LINDEX', tk, 0) == id then
    redis.call('LPOP', tk)
  else
    -- Not the head: only a queued task cancelled behind another one; tenant lists are short.
    redis.call('LREM', tk, 1, id)
  end
end

-- Tells idle workers (every subscriber of WAKE) that something may be claimable, unless
-- nothing is queued at all: at the end of a drain, completions then cost no messages.
local function wake(reason)
  if redis.call('EXISTS', ready_key('provisioning'), ready_key('bulk')) > 0 then
    redis.call('PUBLISH', WAKE, reason)
  end
end

-- Removes a task for good (done, cancelled, exhausted). The caller has released its slot.
local function forget(id, t)
  tenant_remove(t.tenant, id)
  if t.state == 'pending' then
    remove_pending(id, t.lane, t.db)
  elseif t.state == 'delayed' then
    redis.call('ZREM', DELAYED, id)
  elseif t.state == 'running' then
    redis.call('ZREM', LEASES, id)
  end
  redis.call('DEL', task_key(id))
end

-- Whether `id` is its tenant's oldest unfinished task (the only one allowed to run). Heads
-- whose task no longer exists (keys evicted or deleted by hand) are dropped so that such damage
-- can never block a tenant for good.
local function is_tenant_head(tenant, id)
  local tk = tenant_key(tenant)
  for _ = 1, TENANT_REPAIRS do
    local head = redis.call('LINDEX', tk, 0)
    if head == id then
      return true
    end
    if not head then
      -- The task exists but its tenant list is gone: put it back rather than strand it.
      redis.call('RPUSH', tk, id)
      return redis.call('LINDEX', tk, 0) == id
    end
    if redis.call('EXISTS', task_key(head)) == 1 then
      return false
    end
    redis.call('LPOP', tk)
  end
  return false
end

-- Takes the members of `zset` whose score has passed `now` (at most `batch`) out of it.
local function take_due(zset, now, batch)
  local ids = redis.call('ZRANGEBYSCORE', zset, '-inf', now, 'LIMIT', 0, batch)
  if #ids > 0 then
    redis.call('ZREM', zset, unpack(ids))
  end
  return ids
end

-- Ends overdue leases (at most REAP_BATCH): frees the database slot, then queues the task again
-- (same place in line, the attempt stays counted) or drops it when its attempts are used up or
-- a cancel was requested. Each expiry is recorded in EXPIRED for `reap` to report.
-- Returns whether more overdue leases may remain.
local function reap_expired(now)
  local ids = take_due(LEASES, now, REAP_BATCH)
  for _, id in ipairs(ids) do
    local t = load_task(id)
    if t and t.state == 'running' then
      release_slot(t.db)
      local requeued = tonumber(t.attempts) < tonumber(t.max) and t.cancel ~= '1'
      redis.call('RPUSH', EXPIRED, table.concat(
        { id, t.job, t.tenant, t.db, t.lane, t.max, t.attempts, requeued and '1' or '0' }, ' '))
      if requeued then
        push_pending(id, t.lane, t.db, t.seq)
      else
        t.state = 'expired' -- already out of LEASES and of every pending set
        forget(id, t)
      end
    end
  end
  if #ids > 0 then
    redis.call('LTRIM', EXPIRED, -EXPIRED_CAP, -1)
  end
  return #ids == REAP_BATCH
end

-- Moves retries whose backoff has passed back to their pending set (at most PROMOTE_BATCH).
local function promote_delayed(now)
  local ids = take_due(DELAYED, now, PROMOTE_BATCH)
  for _, id in ipairs(ids) do
    local t = load_task(id)
    if t and t.state == 'delayed' then
      push_pending(id, t.lane, t.db, t.seq)
    end
  end
end
