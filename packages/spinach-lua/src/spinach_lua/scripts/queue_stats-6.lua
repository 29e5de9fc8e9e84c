--[[
Count the jobs of one queue by state, read-only.

KEYS[1] schema      STRING  schema version of this queue's data
KEYS[2] ready       LIST    ids of jobs ready to run
KEYS[3] delayed     ZSET    ids of jobs waiting for their due time
KEYS[4] running     ZSET    ids of running jobs
KEYS[5] failed_index ZSET   id -> when it failed (ms), one per job of the failed store
KEYS[6] cancelled   SET     ids cancelled while in the ready or a parked list

ARGV[1]             schema version expected by the caller

Returns {0, ready, delayed, running, oldest_ready_id, failed}: ready leaves out cancelled jobs
        still in the list; oldest_ready_id is false when nothing is ready (the caller reads
        that job's age from its envelope).
        {-1, stored}        schema mismatch
]]
--- @include "schema_peek"

local oldest = redis.call('LINDEX', KEYS[2], 0)
local ready = math.max(0, redis.call('LLEN', KEYS[2]) - redis.call('SCARD', KEYS[6]))
return {
  0, ready, redis.call('ZCARD', KEYS[3]), redis.call('ZCARD', KEYS[4]), oldest,
  redis.call('ZCARD', KEYS[5]),
}
