-- stats: no ARGV. One consistent snapshot:
-- {queued provisioning, queued bulk, delayed, {db, running, db, running, ...}}.

local function queued(lane)
  local total = 0
  for _, db in ipairs(redis.call('ZRANGE', ready_key(lane), 0, MAX_READY_DBS * 10 - 1)) do
    total = total + redis.call('ZCARD', pending_key(lane, db))
  end
  return total
end

return { queued('provisioning'), queued('bulk'), redis.call('ZCARD', DELAYED), redis.call('HGETALL', DBRUN) }
