--[[
Hand jobs a worker fetched but never started back to the head of their queue, in their order.

KEYS[1] schema      STRING  schema version of this queue's data
KEYS[2] running     ZSET    ids of fetched jobs (score: lease deadline ms)
KEYS[3] ready       LIST    ids of jobs ready to run, oldest first
KEYS[4] wake        LIST    wake-up token for idle workers of this queue
KEYS[5] leases      HASH    id -> fencing token of the lease of a fetched job
KEYS[6] tasks       HASH    id -> task name
KEYS[7] limited_running ZSET "<task>\0<id>" of running jobs of limited tasks

ARGV[1]             schema version expected by the caller
ARGV[2..]           one pair per job, in the order they were fetched: id, token

Only jobs whose lease still carries the caller's token are handed back, so a re-sent call or a
zombie worker changes nothing.

Returns {0, released}
        {-1, stored}        schema mismatch: nothing done
]]
--- @include "prelude"
--- @include "limits"
--- @include "schema_guard"

local released = {}
for i = #ARGV - 1, 2, -2 do
  local id = ARGV[i]
  if redis.call('HGET', KEYS[5], id) == ARGV[i + 1] then
    redis.call('HDEL', KEYS[5], id)
    redis.call('ZREM', KEYS[2], id)
    redis.call('LPUSH', KEYS[3], id)
    released[#released + 1] = id
  end
end
-- Back in the ready list, a job of a task at its limit is parked again by the next fetch.
free_slots({tasks = KEYS[6], limited_running = KEYS[7]}, released)
if #released > 0 then
  ensure_wake_token(KEYS[4])
end
return {0, #released}
