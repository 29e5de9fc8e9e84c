--[[
Delete failed jobs from the failed store for good, the oldest first.

KEYS
  failed_index  ZSET  id -> when it failed (ms), one per job of the failed store
  jobs        HASH    id -> record of the job (see the record include)

ARGV
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

local first = tonumber(ARG.skip)
local ids = redis.call('ZRANGE', KEY.failed_index, first, first + tonumber(ARG.limit) - 1)
local q = {failed_index = KEY.failed_index, jobs = KEY.jobs}
local doomed = ids
if ARG.task ~= '' then
  doomed = {}
  for n, record in ipairs(read_records(q, ids)) do
    if record and record.t == ARG.task then
      doomed[#doomed + 1] = ids[n]
    end
  end
end
forget_failed(q, doomed)
return reply{deleted = #doomed, looked = #ids}
