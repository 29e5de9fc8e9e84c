--[[
Set the concurrency limits of tasks: the ones declared in code, or an operator's override.

KEYS[1] schema          STRING schema version of this queue's data
KEYS[2] limits          HASH  task -> limit in force (the override if any, else the code's)
KEYS[3] limits_code     HASH  task -> limit declared in the code of the workers
KEYS[4] limits_override HASH  task -> limit set by an operator at runtime
KEYS[5] ready           LIST  ids of jobs ready to run
KEYS[6] wake            LIST  wake-up token for idle workers of this queue
KEYS[7..] parked        LIST  one per task of ARGV: its jobs held back by its limit

ARGV[1]             schema version expected by the caller
ARGV[2]             'code' (workers starting) or 'override' (an operator)
ARGV[3..]           one pair per task: name, limit (0: no limit)

Workers only write the code limits of the tasks they declare: deployments sharing a namespace
never erase each other's limits, and a worker start never erases an operator's override
(Spinach issue #27). A task left without any limit sends its parked jobs back to the ready
list.

Returns {0, limits}: the limit in force of each task of ARGV, in order (0: none).
        {-1, stored}        schema mismatch: nothing done
]]
--- @include "prelude"
--- @include "schema_guard"

local source = ARGV[2] == 'override' and KEYS[4] or KEYS[3]
local result = {}
for i = 3, #ARGV, 2 do
  local task, limit = ARGV[i], tonumber(ARGV[i + 1])
  if limit > 0 then
    redis.call('HSET', source, task, limit)
  else
    redis.call('HDEL', source, task)
  end
  local effective = redis.call('HGET', KEYS[4], task) or redis.call('HGET', KEYS[3], task)
  if effective then
    redis.call('HSET', KEYS[2], task, effective)
    result[#result + 1] = tonumber(effective)
  else
    redis.call('HDEL', KEYS[2], task)
    result[#result + 1] = 0
    local parked = KEYS[6 + (i - 1) / 2]
    while true do
      local waiting = redis.call('LRANGE', parked, 0, SLICE - 1)
      if #waiting == 0 then
        break
      end
      redis.call('RPUSH', KEYS[5], unpack(waiting))
      redis.call('LTRIM', parked, #waiting, -1)
      ensure_wake_token(KEYS[6])
    end
  end
end
-- A limit raised or lifted may let parked jobs start now.
ensure_wake_token(KEYS[6])
return {0, result}
