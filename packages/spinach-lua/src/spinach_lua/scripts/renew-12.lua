--[[
Extend the leases a live worker holds, and take back expired ones (the heartbeat's call).

KEYS[1] schema      STRING  schema version of this queue's data
KEYS[2] running     ZSET    ids of fetched jobs (score: lease deadline ms)
KEYS[3] leases      HASH    id -> fencing token of the lease of a fetched job
KEYS[4] budget      HASH    id -> max_retries of jobs that may run again
KEYS[5] retries     HASH    id -> number of retries already scheduled
KEYS[6] jobs        HASH    id -> encoded job envelope
KEYS[7] ready       LIST    ids of jobs ready to run
KEYS[8] wake        LIST    wake-up token for idle workers of this queue
KEYS[9] tasks       HASH    id -> task name
KEYS[10] limits     HASH    task -> how many of its jobs may run at once
KEYS[11] limited_running ZSET "<task>\0<id>" of running jobs of limited tasks
KEYS[12] abandoned  HASH    id -> 1 for jobs whose worker died and that may not run again
KEYS[13..] parked   LIST    one per task of ARGV[5..]: its jobs held back by its limit

ARGV[1]             schema version expected by the caller
ARGV[2]             lease duration in ms
ARGV[3]             how many expired leases to take back at most in this call
ARGV[4]             how many task names follow: T
ARGV[5..4+T]        the tasks of this queue the caller knows (their parked lists: KEYS[13..])
ARGV[5+T..]         one pair per job the caller runs: id, token

Expired leases are taken back first, so a worker that missed its renewals cannot extend a lease
that is no longer its own.

Returns {0, lost_ids}: jobs whose lease the caller no longer holds (their outcome will be
rejected).
        {-1, stored}        schema mismatch: nothing done
]]
--- @include "prelude"
--- @include "limits"
--- @include "schema_guard"

local now = now_ms()
local q = {
  running = KEYS[2], leases = KEYS[3], budget = KEYS[4], retries = KEYS[5], jobs = KEYS[6],
  ready = KEYS[7], wake = KEYS[8], tasks = KEYS[9], limited_running = KEYS[11],
  abandoned = KEYS[12],
}
local task_count = #load_tasks(q, 4, 12, KEYS[10])
recover_expired(q, now, tonumber(ARGV[3]))

local deadline = now + tonumber(ARGV[2])
local lost = {}
for i = 5 + task_count, #ARGV, 2 do
  local id = ARGV[i]
  if redis.call('HGET', KEYS[3], id) == ARGV[i + 1] then
    redis.call('ZADD', KEYS[2], 'XX', deadline, id)
  else
    lost[#lost + 1] = id
  end
end
return {0, lost}
