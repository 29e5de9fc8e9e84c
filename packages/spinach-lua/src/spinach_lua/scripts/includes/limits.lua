-- Concurrency limits and where jobs wait. Needs the prelude and the record, lease and ready
-- includes.
--
-- The queue description `q` the helpers take: the ready include's keys, q.limited_running,
-- q.limits (task -> limit, for the tasks the caller knows), q.parked (task -> key of its parked
-- list). A job of a
-- task at its limit waits in the task's parked list, out of the way of the other jobs of the
-- queue, so that no fetch ever scans behind it.

-- Running jobs of limited tasks are members "<task>\0<id>" of one sorted set, so a task's
-- running count is a ZLEXCOUNT: derived from the leases themselves, never a counter that a
-- lost acknowledgement or a crash could leave wrong.
local function limited_member(task, id)
  return task .. '\0' .. id
end

local function running_of(q, task)
  return redis.call('ZLEXCOUNT', q.limited_running, '[' .. task .. '\0', '(' .. task .. '\1')
end

-- Read the tasks the caller knows (ARGV from index `first`, `count` of them) with their parked
-- lists (`parked`, in the same order) and their limits into q. Returns the list of names.
local function load_tasks(q, first, count, parked, limits_key)
  local names = {}
  q.parked = {}
  q.limits = {}
  for n = 1, count do
    names[n] = ARGV[first + n - 1]
    q.parked[names[n]] = parked[n]
  end
  if #names > 0 then
    local values = redis.call('HMGET', limits_key, unpack(names))
    for n, name in ipairs(names) do
      if values[n] then
        q.limits[name] = tonumber(values[n])
      end
    end
  end
  return names
end

-- Queue `ids` (whose tasks are `tasks` and priorities `priorities`, in order; `priorities`
-- may be nil: all 0) at the tail of their priority, or of their task's parked list when the task
-- has a limit (and the caller knows its list).
local function route(q, ids, tasks, priorities)
  if #ids == 0 then
    return
  end
  if next(q.limits) == nil then
    push_ready(q, ids, priorities, false)
    return
  end
  local ready, ready_priorities, parked = {}, {}, {}
  for n, id in ipairs(ids) do
    local task = tasks[n]
    if task and q.limits[task] and q.parked[task] then
      parked[task] = parked[task] or {}
      parked[task][#parked[task] + 1] = id
    else
      ready[#ready + 1] = id
      ready_priorities[#ready] = priorities and priorities[n] or 0
    end
  end
  push_ready(q, ready, ready_priorities, false)
  for task, waiting in pairs(parked) do
    call_sliced('RPUSH', q.parked[task], waiting)
  end
end

-- Free the limit slots of jobs that stopped running (`raws`: the record of each, in order, as
-- it was while the job ran: only a lease marked as holding a slot has one); returns how many
-- were freed.
local function free_slots(q, ids, raws)
  local members = {}
  for n, id in ipairs(ids) do
    local raw = raws[n]
    if raw and record_holds_slot(raw) then
      members[#members + 1] = limited_member(task_of(raw), id)
    end
  end
  local freed = 0
  for first = 1, #members, SLICE do
    freed = freed + redis.call('ZREM', q.limited_running, unpack(members, first, math.min(first + SLICE - 1, #members)))
  end
  return freed
end
