-- cancel: ARGV = task ids, at most 1000.
-- A queued or delayed task leaves the queue at once (returned); a running one is flagged, and
-- its next renewal reports the cancel request. Unknown ids are ignored.

local removed = {}
for _, id in ipairs(ARGV) do
  local t = load_task(id)
  if t then
    if t.state == 'running' then
      redis.call('HSET', task_key(id), 'cancel', '1')
    else
      forget(id, t)
      removed[#removed + 1] = id
    end
  end
end
-- A cancelled head may unblock its tenant's next task.
wake('cancel')
return removed
