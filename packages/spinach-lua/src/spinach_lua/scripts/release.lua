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
  jobs        HASH    id -> envelope (see the record include)
  state       HASH    id -> packed state of the job (see the record include)

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

local q = {jobs = KEY.jobs, state = KEY.state, limited_running = KEY.limited_running}
local ids, tokens = {}, {}
for i = ARG.leases, ARG.leases + ARG.leases_n - 1, 2 do
  ids[#ids + 1] = ARGV[i]
  tokens[#ids] = ARGV[i + 1]
end
local records = read_records(q, ids)
local released, kept, tasks = {}, {}, {}
for n = #ids, 1, -1 do
  local record = records[n]
  if record and record.l and record.l == tokens[n] then
    record.l = nil
    released[#released + 1] = ids[n]
    kept[#kept + 1] = record
    tasks[#tasks + 1] = record.t
  end
end
write_records(q, released, kept)
call_sliced('ZREM', KEY.running, released)
call_sliced('LPUSH', KEY.ready, released)
free_slots(q, released, tasks)
if #released > 0 then
  ensure_wake_token(KEY.wake)
end
return reply{released = #released}
