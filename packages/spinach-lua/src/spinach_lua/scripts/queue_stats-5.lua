--[[
Count the jobs of one queue by state, read-only.

KEYS[1] schema      STRING  schema version of this queue's data
KEYS[2] ready       LIST    ids of jobs ready to run
KEYS[3] delayed     ZSET    ids of jobs waiting for their due time
KEYS[4] running     ZSET    ids of running jobs
KEYS[5] failed_index ZSET   id -> when it failed (ms), one per job of the failed store

ARGV[1]             schema version expected by the caller

Returns {0, ready, delayed, running, oldest_ready_id, failed}: ready may count cancelled jobs
        not popped yet (never fewer jobs than can run); oldest_ready_id is false when nothing
        is ready (the caller reads that job's age from its envelope).
        {-1, stored}        schema mismatch
]]
--- @include "schema_peek"

local oldest = redis.call('LINDEX', KEYS[2], 0)
return {
  0, redis.call('LLEN', KEYS[2]), redis.call('ZCARD', KEYS[3]), redis.call('ZCARD', KEYS[4]), oldest,
  redis.call('ZCARD', KEYS[5]),
}
