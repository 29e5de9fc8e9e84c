--[[
Set the concurrency limits of tasks: the ones declared in code, or an operator's override.

Workers only write the code limits of the tasks they declare: deployments sharing a namespace
never erase each other's limits, and a worker start never erases an operator's override
(Spinach issue #27). A task left without any limit sends its parked jobs back to the tail of
their priority.

KEYS
  limits      HASH    task -> limit in force (the override if any, else the code's)
  limits_code HASH    task -> limit declared in the code of the workers
  limits_override  HASH  task -> limit set by an operator at runtime
  ready       LIST    ids of jobs ready to run
  ranked      ZSET    ids of ready jobs of another priority than 0 (see the ready include)
  ranked_seq  STRING  last sequence number of the ranked set
  jobs        HASH    id -> record of the job (see the record include)
  wake        LIST    wake-up token for idle workers of this queue
  parked*     LIST    one per pair of `limits`: the task's jobs held back by its limit

ARGV
  source      'code' (workers starting) or 'override' (an operator)
  pairs*2     one pair per task: name, limit (0: no limit)

REPLY
  limits      the limit in force of each task of `pairs`, in order (0: none)
]]
--- @include "prelude"
--- @include "record"
--- @include "ready"

local q = {ready = KEY.ready, ranked = KEY.ranked, ranked_seq = KEY.ranked_seq, jobs = KEY.jobs}
local prioritized = nil  -- whether the queue uses priorities, once asked

local source = ARG.source == 'override' and KEY.limits_override or KEY.limits_code
local result = {}
for i = ARG.pairs, ARG.pairs + ARG.pairs_n - 1, 2 do
  local task, limit = ARGV[i], tonumber(ARGV[i + 1])
  if limit > 0 then
    redis.call('HSET', source, task, limit)
  else
    redis.call('HDEL', source, task)
  end
  local effective = redis.call('HGET', KEY.limits_override, task)
    or redis.call('HGET', KEY.limits_code, task)
  if effective then
    redis.call('HSET', KEY.limits, task, effective)
    result[#result + 1] = tonumber(effective)
  else
    redis.call('HDEL', KEY.limits, task)
    result[#result + 1] = 0
    local parked = KEY.parked[(i - ARG.pairs) / 2 + 1]
    while true do
      local waiting = redis.call('LRANGE', parked, 0, SLICE - 1)
      if #waiting == 0 then
        break
      end
      local priorities = nil
      if prioritized == nil then
        prioritized = uses_priorities(q)
      end
      if prioritized then
        priorities = {}
        for n, raw in ipairs(read_raw(q, waiting)) do
          priorities[n] = raw and priority_of(raw) or 0
        end
      end
      push_ready(q, waiting, priorities, false)
      redis.call('LTRIM', parked, #waiting, -1)
    end
  end
end
-- A limit raised or lifted may let parked jobs start now.
ensure_wake_token(KEY.wake)
return reply{limits = result}
