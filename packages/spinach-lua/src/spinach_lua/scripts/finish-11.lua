--[[
Record the outcome of jobs a worker ran: success, final failure, or a retry later.

KEYS[1] schema      STRING  schema version of this queue's data
KEYS[2] running     ZSET    ids of fetched jobs (score: lease deadline ms)
KEYS[3] jobs        HASH    id -> encoded job envelope
KEYS[4] retries     HASH    id -> number of retries already scheduled
KEYS[5] delayed     ZSET    ids of jobs waiting for their due time (score: due ms)
KEYS[6] wake        LIST    wake-up token for idle workers of this queue
KEYS[7] leases      HASH    id -> fencing token of the lease of a fetched job
KEYS[8] budget      HASH    id -> max_retries of jobs that may run again
KEYS[9] tasks       HASH    id -> task name
KEYS[10] limited_running ZSET "<task>\0<id>" of running jobs of limited tasks
KEYS[11] abandoned  HASH    id -> 1 for jobs whose worker died and that may not run again

ARGV[1]             schema version expected by the caller
ARGV[2]             how many jobs are done (succeeded or failed for good): n
ARGV[3..2+2n]       one pair per done job: id, token
ARGV[3+2n..]        one group of four per job to retry: op, id, token, when
                      op 'r': retry when ms from now; 'R': retry at the absolute time when (ms)

Fencing: an outcome applies only while the job's lease still carries the caller's token. A
worker whose lease expired and was taken over (a zombie back from a pause or a partition), or a
batch re-sent after a lost reply, changes nothing.

Returns {0, applied, rejected_ids}
        {-1, stored}        schema mismatch: nothing done
]]
--- @include "prelude"
--- @include "limits"
--- @include "schema_guard"

local now = now_ms()
local earliest_before = earliest_due(KEYS[5])
local earliest = nil
local rejected = {}
local done = {}
local retried = {}
local delayed = {}

local done_count = tonumber(ARGV[2])
local ids, given, ops, whens = {}, {}, {}, {}
for i = 3, 2 + 2 * done_count, 2 do
  ids[#ids + 1] = ARGV[i]
  given[#given + 1] = ARGV[i + 1]
  ops[#ops + 1] = 'd'
end
for i = 3 + 2 * done_count, #ARGV, 4 do
  ops[#ops + 1] = ARGV[i]
  ids[#ids + 1] = ARGV[i + 1]
  given[#given + 1] = ARGV[i + 2]
  whens[#ids] = ARGV[i + 3]
end
if #ids == 0 then
  return {0, 0, {}}
end
local tokens = hmget_sliced(KEYS[7], ids)

for n = 1, #ids do
  local id = ids[n]
  if tokens[n] == given[n] then
    if ops[n] == 'd' then
      done[#done + 1] = id
    else
      local due = tonumber(whens[n])
      if ops[n] == 'r' then
        due = now + due
      end
      retried[#retried + 1] = id
      delayed[#delayed + 1] = due
      delayed[#delayed + 1] = id
      if earliest == nil or due < earliest then
        earliest = due
      end
    end
  else
    rejected[#rejected + 1] = id
  end
end

-- One command per structure for the whole batch: under load this is most of the script's cost.
-- Deletions come first: Redis at maxmemory refuses a script whose first write may grow memory,
-- so a batch with a retry in it must start with writes that only free memory.
local q = {tasks = KEYS[9], limited_running = KEYS[10]}
local applied = {}
for _, id in ipairs(done) do
  applied[#applied + 1] = id
end
for _, id in ipairs(retried) do
  applied[#applied + 1] = id
end
if free_slots(q, applied) > 0 then
  ensure_wake_token(KEYS[6])  -- a limited task has a free slot: a parked job may start
end
call_sliced('HDEL', KEYS[7], applied)
call_sliced('ZREM', KEYS[2], applied)
call_sliced('HDEL', KEYS[3], done)
call_sliced('HDEL', KEYS[4], done)
call_sliced('HDEL', KEYS[8], done)
call_sliced('HDEL', KEYS[9], done)
call_sliced('HDEL', KEYS[11], done)
for _, id in ipairs(retried) do
  redis.call('HINCRBY', KEYS[4], id, 1)
end
call_sliced('ZADD', KEYS[5], delayed)

if earliest and (earliest_before == nil or earliest < earliest_before) then
  ensure_wake_token(KEYS[6])
end
return {0, #applied, rejected}
