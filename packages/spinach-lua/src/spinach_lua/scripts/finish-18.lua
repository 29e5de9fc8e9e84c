--[[
Record the outcome of jobs a worker ran: success, final failure, or a retry later.

KEYS[1] schema      STRING  schema version of this queue's data
KEYS[2] running     ZSET    ids of fetched jobs (score: lease deadline ms)
KEYS[3] jobs        HASH    id -> encoded job envelope
KEYS[4] retries     HASH    id -> number of retries already scheduled
KEYS[5] delayed     ZSET    ids of jobs waiting for their due time (score: due ms)
KEYS[6] wake        LIST    wake-up token for idle workers of this queue
KEYS[7] leases      HASH    id -> lease of a fetched job ("<fencing token>:<started ms>:<worker>")
KEYS[8] budget      HASH    id -> max_retries of jobs that may run again
KEYS[9] tasks       HASH    id -> task name
KEYS[10] limited_running ZSET "<task>\0<id>" of running jobs of limited tasks
KEYS[11] abandoned  HASH    id -> 1 for jobs whose worker died and that may not run again
KEYS[12] created    HASH    id -> when the job was enqueued (ms)
KEYS[13] done       HASH    id -> record of a finished job
KEYS[14] done_index LIST    "<finished ms>:<id>" of finished jobs, oldest first
KEYS[15] failed     HASH    id -> record of a job that failed for good
KEYS[16] failed_jobs HASH   id -> envelope of a job that failed for good
KEYS[17] failed_index ZSET  id -> when it failed (ms)
KEYS[18] errors     HASH    id -> error of the last failed run of a job waiting for its retry

ARGV[1]             schema version expected by the caller
ARGV[2]             how long finished records are kept, in ms (0: none are written)
ARGV[3]             most finished records kept
ARGV[4]             how long failed jobs are kept, in ms
ARGV[5]             most failed jobs kept
ARGV[6..]           one group of five per job: op, id, token, when, error
                      op 's': succeeded; 'f': failed for good; 'F': failed for good with an
                      unusable payload, which is not kept to run again; 'r': retry in `when`
                      ms; 'R': retry at the absolute time `when` (ms). error: "Type: message"
                      of a failed run ('f', 'F', 'r', 'R'), "" on success

Fencing: an outcome applies only while the job's lease is still the one the caller was given.
A worker whose lease expired and was taken over (a zombie back from a pause or a partition), or
a batch re-sent after a lost reply, changes nothing.

Returns {0, applied, rejected_ids}
        {-1, stored}        schema mismatch: nothing done
]]
--- @include "prelude"
--- @include "limits"
--- @include "records"
--- @include "schema_guard"

local now = now_ms()
local keep_done, max_done = tonumber(ARGV[2]), tonumber(ARGV[3])
local keep_failed, max_failed = tonumber(ARGV[4]), tonumber(ARGV[5])
local earliest_before = earliest_due(KEYS[5])
local earliest = nil

local ids, ops, given, whens, errors = {}, {}, {}, {}, {}
for i = 6, #ARGV, 5 do
  ops[#ops + 1] = ARGV[i]
  ids[#ids + 1] = ARGV[i + 1]
  given[#given + 1] = ARGV[i + 2]
  whens[#whens + 1] = ARGV[i + 3]
  errors[#errors + 1] = ARGV[i + 4]
end
if #ids == 0 then
  return {0, 0, {}}
end
local leases = hmget_sliced(KEYS[7], ids)

local rejected, done, retried, delayed, retry_errors = {}, {}, {}, {}, {}
local done_rows = {}  -- positions in ids of the jobs done
for n = 1, #ids do
  local id = ids[n]
  if leases[n] == given[n] then
    local op = ops[n]
    if op == 's' or op == 'f' or op == 'F' then
      done[#done + 1] = id
      done_rows[#done_rows + 1] = n
    else
      local due = tonumber(whens[n])
      if op == 'r' then
        due = now + due
      end
      retried[#retried + 1] = id
      if errors[n] ~= '' then
        retry_errors[#retry_errors + 1] = id
        retry_errors[#retry_errors + 1] = errors[n]
      end
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

-- The jobs done first, then the retried ones: their tasks are read once, for both the limit
-- slots and the records.
local applied = {}
for _, id in ipairs(done) do
  applied[#applied + 1] = id
end
for _, id in ipairs(retried) do
  applied[#applied + 1] = id
end
local tasks = hmget_sliced(KEYS[9], applied)

-- Records of the jobs done, read before their live data is deleted below.
local q = {
  tasks = KEYS[9], limited_running = KEYS[10], done = KEYS[13], done_index = KEYS[14],
  failed = KEYS[15], failed_jobs = KEYS[16], failed_index = KEYS[17],
}
local succeeded, failed = {}, {}
local any_failed = false
for _, n in ipairs(done_rows) do
  any_failed = any_failed or ops[n] ~= 's'
end
if #done > 0 and (keep_done > 0 or any_failed) then
  local attempts = hmget_sliced(KEYS[4], done)
  local created = hmget_sliced(KEYS[12], done)
  local failed_ids = {}
  for m, n in ipairs(done_rows) do
    if ops[n] ~= 's' then
      failed_ids[#failed_ids + 1] = m
    end
  end
  local envelopes, budgets = {}, {}
  if #failed_ids > 0 then
    local wanted = {}
    for _, m in ipairs(failed_ids) do
      wanted[#wanted + 1] = done[m]
    end
    local found_envelopes = hmget_sliced(KEYS[3], wanted)
    local found_budgets = hmget_sliced(KEYS[8], wanted)
    for k, m in ipairs(failed_ids) do
      envelopes[m] = found_envelopes[k]
      budgets[m] = found_budgets[k]
    end
  end
  for m, n in ipairs(done_rows) do
    local started, worker = lease_parts(leases[n])
    local runs = (tonumber(attempts[m]) or 0) + 1
    if ops[n] == 's' then
      if keep_done > 0 then
        succeeded[#succeeded + 1] = {
          done[m], make_record('s', tasks[m], runs, created[m], started, now, worker, '', 0),
        }
      end
    else
      failed[#failed + 1] = {
        done[m],
        make_record('f', tasks[m], runs, created[m], started, now, worker, errors[n], budgets[m]),
        ops[n] == 'f' and envelopes[m],
      }
    end
  end
end

-- One command per structure for the whole batch: under load this is most of the script's cost.
-- Deletions come first: Redis at maxmemory refuses a script whose first write may grow memory,
-- so a batch with a retry or a record in it must start with writes that only free memory.
if free_slots(q, applied, tasks) > 0 then
  ensure_wake_token(KEYS[6])  -- a limited task has a free slot: a parked job may start
end
call_sliced('HDEL', KEYS[7], applied)
call_sliced('ZREM', KEYS[2], applied)
call_sliced('HDEL', KEYS[3], done)
call_sliced('HDEL', KEYS[4], done)
call_sliced('HDEL', KEYS[8], done)
call_sliced('HDEL', KEYS[9], done)
call_sliced('HDEL', KEYS[11], done)
call_sliced('HDEL', KEYS[12], done)
call_sliced('HDEL', KEYS[18], done)
for _, id in ipairs(retried) do
  redis.call('HINCRBY', KEYS[4], id, 1)
end
call_sliced('ZADD', KEYS[5], delayed)
call_sliced('HSET', KEYS[18], retry_errors)

add_done(q, now, succeeded)
add_failed(q, now, failed)
if #succeeded > 0 then
  trim_done(q, now - keep_done, max_done, #succeeded + 100)
end
if #failed > 0 then
  trim_failed(q, now - keep_failed, max_failed, #failed + 100)
end

if earliest and (earliest_before == nil or earliest < earliest_before) then
  ensure_wake_token(KEYS[6])
end
return {0, #applied, rejected}
