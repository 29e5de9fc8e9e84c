--[[
Enqueue jobs of one queue, atomically and at most once per call.

KEYS[1] schema      STRING  schema version of this queue's data
KEYS[2] token       STRING  idempotency marker of this call (expires after ARGV[2] ms)
KEYS[3] ready       LIST    ids of jobs ready to run, oldest first
KEYS[4] delayed     ZSET    ids of jobs waiting for their due time (score: due ms, Redis time)
KEYS[5] jobs        HASH    id -> encoded job envelope (never decoded here)
KEYS[6] wake        LIST    wake-up token for idle workers of this queue
KEYS[7] budget      HASH    id -> max_retries of jobs that may run again (-1: no limit)
KEYS[8] tasks       HASH    id -> task name
KEYS[9] limits      HASH    task -> how many of its jobs may run at once
KEYS[10] created    HASH    id -> when the job was enqueued (ms, Redis time)
KEYS[11..] parked   LIST    one per task of ARGV[4..]: its jobs held back by its limit

ARGV[1]             schema version expected by the caller
ARGV[2]             lifetime of the idempotency marker, in ms
ARGV[3]             how many task names follow: T
ARGV[4..3+T]        the tasks of the jobs below (their parked lists: KEYS[11..])
ARGV[4+T..]         one group of three per job: id, meta, payload
                    meta is "t" or "t:at_ms:delay_ms:max_retries", t the job's task number
                    (1 for the first of ARGV[4..]); the short form means due now, at most once:
                      due = at_ms if at_ms > 0 else now + delay_ms; due <= now means ready now;
                      max_retries: 0 at most once, n > 0 retried up to n times, -1 no limit.
                    A job ready now whose task has a limit waits in the task's parked list.

Returns {0, queued, delayed, duplicates}
        {1}                 this call already ran (a retry after a lost reply): nothing done
        {-1, stored}        schema mismatch: nothing done
A job whose id is already known to the queue is skipped and counted as a duplicate.
]]
--- @include "prelude"
--- @include "limits"
--- @include "schema_guard"

if not redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[2]) then
  return {1}
end

local now = now_ms()
local earliest_before = earliest_due(KEYS[4])
local q = {ready = KEYS[3], tasks = KEYS[8]}
local names = load_tasks(q, 3, 10, KEYS[9])
local task_count = #names

-- Jobs of one batch mostly share their meta: parse each distinct one once.
local metas = {}
local function parse_meta(meta)
  local parsed = metas[meta]
  if parsed == nil then
    local t, at, delay, budget = string.match(meta, '^(%d+):(%-?%d+):(%-?%d+):(%-?%d+)$')
    if t then
      parsed = {names[tonumber(t)], tonumber(at), tonumber(delay), budget}
    else
      parsed = {names[tonumber(meta)], 0, 0, '0'}
    end
    metas[meta] = parsed
  end
  return parsed
end

-- One HMGET and one HSET for the whole batch: a command per job would dominate the cost.
local first_job = 4 + task_count
local ids = {}
for i = first_job, #ARGV, 3 do
  ids[#ids + 1] = ARGV[i]
end
local known = hmget_sliced(KEYS[5], ids)
local envelopes, job_tasks, ready_ids, delayed_args, budgets = {}, {}, {}, {}, {}
local created = {}
local seen = {}
local earliest = nil
local duplicates = 0

for n = 1, #ids do
  local i = first_job + (n - 1) * 3
  local id = ids[n]
  if known[n] == false and not seen[id] then
    seen[id] = true
    local meta = parse_meta(ARGV[i + 1])
    envelopes[#envelopes + 1] = id
    envelopes[#envelopes + 1] = ARGV[i + 2]
    job_tasks[#job_tasks + 1] = id
    job_tasks[#job_tasks + 1] = meta[1]
    created[#created + 1] = id
    created[#created + 1] = now
    local due = meta[2]
    if due <= 0 then
      due = now + meta[3]
    end
    if due <= now then
      ready_ids[#ready_ids + 1] = id
    else
      delayed_args[#delayed_args + 1] = due
      delayed_args[#delayed_args + 1] = id
      if earliest == nil or due < earliest then
        earliest = due
      end
    end
    if meta[4] ~= '0' then
      budgets[#budgets + 1] = id
      budgets[#budgets + 1] = meta[4]
    end
  else
    duplicates = duplicates + 1
  end
end

call_sliced('HSET', KEYS[5], envelopes)
call_sliced('HSET', KEYS[8], job_tasks)
call_sliced('HSET', KEYS[10], created)
call_sliced('ZADD', KEYS[4], delayed_args)
call_sliced('HSET', KEYS[7], budgets)
if next(q.limits) == nil then
  call_sliced('RPUSH', KEYS[3], ready_ids)
else
  route(q, ready_ids)
end

-- Wake one idle worker when there is work now, or when the next due time moved earlier (its
-- sleeping workers must shorten their wait).
if #ready_ids > 0 or (earliest and (earliest_before == nil or earliest < earliest_before)) then
  ensure_wake_token(KEYS[6])
end

return {0, #ready_ids, #delayed_args / 2, duplicates}
