--[[
Queue failed jobs again, with their id and a fresh attempt budget.

KEYS[1] schema      STRING  schema version of this queue's data
KEYS[2] failed      HASH    id -> record of a job that failed for good
KEYS[3] failed_jobs HASH    id -> envelope of a job that failed for good
KEYS[4] failed_index ZSET   id -> when it failed (ms)
KEYS[5] jobs        HASH    id -> encoded job envelope
KEYS[6] tasks       HASH    id -> task name
KEYS[7] budget      HASH    id -> max_retries of jobs that may run again
KEYS[8] retries     HASH    id -> number of retries already scheduled
KEYS[9] created     HASH    id -> when the job was enqueued (ms)
KEYS[10] ready      LIST    ids of jobs ready to run, oldest first
KEYS[11] wake       LIST    wake-up token for idle workers of this queue
KEYS[12] cancelled  SET     ids cancelled while in the ready or a parked list

ARGV[1]             schema version expected by the caller
ARGV[2]             'ids': the ids follow; 'all': the oldest failed jobs, see below
ARGV[3]             with 'all': how many of the oldest failed jobs to skip (ones that could
                    not be retried before)
ARGV[4]             with 'all': most jobs to retry in this call
ARGV[5..]           with 'ids': the ids

A job is queued at the tail of the ready list, as if sent now (its creation time is now) (a job of a task at its limit is parked by the
next fetch) and leaves the failed store. A job whose envelope was lost (undecodable payload)
cannot run again and stays in the store.

Returns {0, retried_ids, unknown_ids, unretriable_ids}
        {-1, stored}        schema mismatch: nothing done
]]
--- @include "prelude"
--- @include "records"
--- @include "schema_guard"

local ids
if ARGV[2] == 'all' then
  local first = tonumber(ARGV[3])
  ids = redis.call('ZRANGE', KEYS[4], first, first + tonumber(ARGV[4]) - 1)
else
  ids = {}
  for i = 5, #ARGV do
    ids[#ids + 1] = ARGV[i]
  end
end

local now = now_ms()
local retried, unknown, unretriable = {}, {}, {}
if #ids == 0 then
  return {0, retried, unknown, unretriable}
end
local records = hmget_sliced(KEYS[2], ids)
local envelopes = hmget_sliced(KEYS[3], ids)
local live = hmget_sliced(KEYS[5], ids)
local jobs, tasks, budgets, created = {}, {}, {}, {}
for n, id in ipairs(ids) do
  if not records[n] then
    unknown[#unknown + 1] = id
  elseif not envelopes[n] or live[n] then
    unretriable[#unretriable + 1] = id
  else
    local record = cjson.decode(records[n])
    retried[#retried + 1] = id
    jobs[#jobs + 1] = id
    jobs[#jobs + 1] = envelopes[n]
    tasks[#tasks + 1] = id
    tasks[#tasks + 1] = record[2]
    if tonumber(record[9]) ~= 0 then
      budgets[#budgets + 1] = id
      budgets[#budgets + 1] = record[9]
    end
    created[#created + 1] = id
    created[#created + 1] = now
  end
end
if #retried > 0 then
  local q = {failed = KEYS[2], failed_jobs = KEYS[3], failed_index = KEYS[4]}
  forget_failed(q, retried)
  call_sliced('HDEL', KEYS[8], retried)
  call_sliced('SREM', KEYS[12], retried)
  call_sliced('HSET', KEYS[5], jobs)
  call_sliced('HSET', KEYS[6], tasks)
  call_sliced('HSET', KEYS[7], budgets)
  call_sliced('HSET', KEYS[9], created)
  call_sliced('RPUSH', KEYS[10], retried)
  ensure_wake_token(KEYS[11])
end
return {0, retried, unknown, unretriable}
