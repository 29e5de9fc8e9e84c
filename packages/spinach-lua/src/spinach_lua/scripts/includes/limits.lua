-- Concurrency limits and where jobs wait. Needs the prelude.
--
-- The queue description `q` every helper takes:
--   q.ready, q.tasks (id -> task), q.limited_running, q.limits (task -> limit, from the
--   `limits` hash, or nil), q.parked (task -> key of its parked list, for the tasks the caller
--   knows). A job of a task at its limit waits in the task's parked list, out of the way of the
--   other jobs of the queue, so that no fetch ever scans behind it.

-- Running jobs of limited tasks are members "<task>\0<id>" of one sorted set, so a task's
-- running count is a ZLEXCOUNT: derived from the leases themselves, never a counter that a
-- lost acknowledgement or a crash could leave wrong.
local function limited_member(task, id)
  return task .. '\0' .. id
end

local function running_of(q, task)
  return redis.call('ZLEXCOUNT', q.limited_running, '[' .. task .. '\0', '(' .. task .. '\1')
end

-- Read the limits of the tasks the caller knows into q.limits.
local function load_limits(q, limits_key, names)
  q.limits = {}
  if #names == 0 then
    return
  end
  local values = redis.call('HMGET', limits_key, unpack(names))
  for n, name in ipairs(names) do
    if values[n] then
      q.limits[name] = tonumber(values[n])
    end
  end
end

-- Read the task names the caller passed (ARGV[count_at] of them, right after it) and their parked
-- lists (the KEYS right after KEYS[last_fixed_key]) into q, then their limits.
-- Returns the list of names.
local function load_tasks(q, count_at, last_fixed_key, limits_key)
  local names = {}
  q.parked = {}
  for n = 1, tonumber(ARGV[count_at]) do
    names[n] = ARGV[count_at + n]
    q.parked[names[n]] = KEYS[last_fixed_key + n]
  end
  load_limits(q, limits_key, names)
  return names
end

-- Queue `ids` at the tail of the ready list, or of their task's parked list when the task has
-- a limit (and the caller knows its list).
local function route(q, ids)
  if #ids == 0 then
    return
  end
  local tasks = hmget_sliced(q.tasks, ids)
  local ready, parked = {}, {}
  for n, id in ipairs(ids) do
    local task = tasks[n]
    if task and q.limits[task] and q.parked[task] then
      parked[task] = parked[task] or {}
      parked[task][#parked[task] + 1] = id
    else
      ready[#ready + 1] = id
    end
  end
  call_sliced('RPUSH', q.ready, ready)
  for task, waiting in pairs(parked) do
    call_sliced('RPUSH', q.parked[task], waiting)
  end
end

-- Free the limit slots of jobs that stopped running; returns how many were freed. `tasks`, the
-- task of each job, is read here unless the caller has it already.
local function free_slots(q, ids, tasks)
  if #ids == 0 then
    return 0
  end
  tasks = tasks or hmget_sliced(q.tasks, ids)
  local members = {}
  for n, id in ipairs(ids) do
    if tasks[n] then
      members[#members + 1] = limited_member(tasks[n], id)
    end
  end
  local freed = 0
  for first = 1, #members, SLICE do
    freed = freed + redis.call('ZREM', q.limited_running, unpack(members, first, math.min(first + SLICE - 1, #members)))
  end
  return freed
end

-- Take back the jobs whose lease expired: their worker died, hung or lost Redis.
-- Extra keys in q: running, leases, budget, retries, wake, abandoned.
-- A job with retries left (its `budget` entry) is queued again, the lost run counted as an
-- attempt. Any other job (at most once, or out of retries) is queued too, but marked abandoned:
-- the worker that fetches it reports it failed instead of running it. Going through a lease
-- like any job, the report survives a lost reply or a dying worker. Limit slots are freed.
local function recover_expired(q, now, limit)
  local expired = redis.call('ZRANGEBYSCORE', q.running, '-inf', now, 'LIMIT', 0, limit)
  if #expired == 0 then
    return
  end
  free_slots(q, expired)
  call_sliced('ZREM', q.running, expired)
  call_sliced('HDEL', q.leases, expired)
  for _, id in ipairs(expired) do
    local budget = tonumber(redis.call('HGET', q.budget, id))
    local retries = tonumber(redis.call('HGET', q.retries, id)) or 0
    if budget and (budget < 0 or retries < budget) then
      redis.call('HSET', q.retries, id, retries + 1)
    else
      redis.call('HSET', q.abandoned, id, '1')
    end
  end
  route(q, expired)
  ensure_wake_token(q.wake)
end
