--[[
Delete failed jobs from the failed store for good.

KEYS[1] schema      STRING  schema version of this queue's data
KEYS[2] failed      HASH    id -> record of a job that failed for good
KEYS[3] failed_jobs HASH    id -> envelope of a job that failed for good
KEYS[4] failed_index ZSET   id -> when it failed (ms)

ARGV[1]             schema version expected by the caller
ARGV[2]             'ids': the ids follow; 'all': the oldest failed jobs
ARGV[3]             with 'all': most jobs to delete in this call
ARGV[4..]           with 'ids': the ids

Returns {0, deleted}
        {-1, stored}        schema mismatch: nothing done
]]
--- @include "prelude"
--- @include "records"
--- @include "schema_guard"

local ids
if ARGV[2] == 'all' then
  ids = redis.call('ZRANGE', KEYS[4], 0, tonumber(ARGV[3]) - 1)
else
  ids = {}
  for i = 4, #ARGV do
    ids[#ids + 1] = ARGV[i]
  end
end
local deleted = 0
for first = 1, #ids, SLICE do
  deleted = deleted + redis.call('ZREM', KEYS[4], unpack(ids, first, math.min(first + SLICE - 1, #ids)))
end
forget_failed({failed = KEYS[2], failed_jobs = KEYS[3], failed_index = KEYS[4]}, ids)
return {0, deleted}
