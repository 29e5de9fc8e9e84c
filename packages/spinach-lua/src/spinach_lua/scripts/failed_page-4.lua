--[[
Read one page of a queue's failed jobs, newest first, read-only.

KEYS[1] schema      STRING  schema version of this queue's data
KEYS[2] failed      HASH    id -> record of a job that failed for good
KEYS[3] failed_jobs HASH    id -> envelope of a job that failed for good
KEYS[4] failed_index ZSET   id -> when it failed (ms)

ARGV[1]             schema version expected by the caller
ARGV[2]             how many newer failed jobs to skip
ARGV[3]             most jobs to return (a page: never the whole store at once)

Returns {0, ids, records, envelopes}: an envelope is false when the job's was not kept (an
        undecodable payload).
        {-1, stored}        schema mismatch
]]
--- @include "prelude"
--- @include "schema_peek"


local first = tonumber(ARGV[2])
local ids = redis.call('ZREVRANGE', KEYS[4], first, first + tonumber(ARGV[3]) - 1)
return {0, ids, hmget_sliced(KEYS[2], ids), hmget_sliced(KEYS[3], ids)}
