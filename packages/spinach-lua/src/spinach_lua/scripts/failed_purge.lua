--[[
Delete failed jobs from the failed store for good, the oldest first.

KEYS
  schema      STRING  schema version of this queue's data
  failed_index  ZSET  id -> when it failed (ms), one per job of the failed store

ARGV
  version     schema version expected by the caller
  skip        how many of the oldest failed jobs to pass over (ones left alone before)
  limit       most failed jobs to look at in this call
  task        only the jobs of this task ("": of every task)

REPLY
  deleted     how many jobs were deleted
  looked      how many jobs were looked at (deleted, or left alone: another task's)
]]
--- @include "prelude"
--- @include "record"
--- @include "history"
--- @include "schema_guard"

local first = tonumber(ARG.skip)
local ids = redis.call('ZRANGE', KEY.failed_index, first, first + tonumber(ARG.limit) - 1)
local doomed = ids
if ARG.task ~= '' then
  doomed = {}
  for _, id in ipairs(ids) do
    if redis.call('HGET', job_key(id), 't') == ARG.task then
      doomed[#doomed + 1] = id
    end
  end
end
forget_failed({failed_index = KEY.failed_index}, doomed)
return reply{deleted = #doomed, looked = #ids}
