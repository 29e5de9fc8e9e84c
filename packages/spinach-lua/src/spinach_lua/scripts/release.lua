--[[
Hand jobs a worker fetched but never started back to the head of their queue, in their order.

Only jobs whose lease is still the caller's are handed back, so a re-sent call or a zombie
worker changes nothing. No attempt is counted: the job never started. Back in the ready list, a
job of a task at its limit is parked again by the next fetch.

KEYS
  schema      STRING  schema version of this queue's data
  running     ZSET    ids of fetched jobs (score: lease deadline ms)
  ready       LIST    ids of jobs ready to run, oldest first
  wake        LIST    wake-up token for idle workers of this queue
  limited_running  ZSET  "<task>\0<id>" of running jobs of limited tasks

ARGV
  version     schema version expected by the caller
  leases*2    one pair per job, in the order they were fetched: id, lease

REPLY
  released    how many jobs went back to the queue
]]
--- @include "prelude"
--- @include "record"
--- @include "limits"
--- @include "schema_guard"

local ids, records = {}, {}
for i = ARG.leases, ARG.leases + ARG.leases_n - 1, 2 do
  ids[#ids + 1] = ARGV[i]
  records[#ids] = redis.call('HMGET', job_key(ARGV[i]), 'l', 't')
end
local released, tasks = {}, {}
for n = #ids, 1, -1 do
  local lease, task = records[n][1], records[n][2]
  if lease and lease == ARGV[ARG.leases + (n - 1) * 2 + 1] then
    redis.call('HDEL', job_key(ids[n]), 'l')
    redis.call('ZREM', KEY.running, ids[n])
    redis.call('LPUSH', KEY.ready, ids[n])
    released[#released + 1] = ids[n]
    tasks[#tasks + 1] = task
  end
end
free_slots({limited_running = KEY.limited_running}, released, tasks)
if #released > 0 then
  ensure_wake_token(KEY.wake)
end
return reply{released = #released}
