--[[
Delete failed jobs from the failed store for good.

KEYS[1] schema      STRING  schema version of this queue's data
KEYS[2] failed      HASH    id -> record of a job that failed for good
KEYS[3] failed_jobs HASH    id -> envelope of a job that failed for good
KEYS[4] failed_index ZSET   id -> when it failed (ms)

ARGV[1]             schema version expected by the caller
ARGV[2]             most jobs to delete in this call, the oldest first

Returns {0, deleted}
        {-1, stored}        schema mismatch: nothing done
]]
--- @include "prelude"
--- @include "records"
--- @include "schema_guard"

local ids = redis.call('ZRANGE', KEYS[4], 0, tonumber(ARGV[2]) - 1)
forget_failed({failed = KEYS[2], failed_jobs = KEYS[3], failed_index = KEYS[4]}, ids)
return {0, #ids}
