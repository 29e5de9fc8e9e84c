-- An operator's decisions on a queue, in its `control` hash (written by queue_control): whether
-- it is paused, and how many of its jobs may run at once across every worker.

-- (paused, max_running or nil) of the queue whose control hash is `key`.
local function read_control(key)
  local state = redis.call('HMGET', key, 'paused', 'max_running')
  return state[1] ~= false, tonumber(state[2])
end
