--[[
Enqueue jobs of one queue, atomically and at most once per call.

KEYS
  schema      STRING  schema version of this queue's data
  token       STRING  idempotency marker of this call (expires after token_ttl_ms)
  ready       LIST    ids of jobs ready to run, oldest first
  delayed     ZSET    ids of jobs waiting for their due time (score: due ms, Redis time)
  wake        LIST    wake-up token for idle workers of this queue
  limits      HASH    task -> how many of its jobs may run at once
  jobs        HASH    id -> envelope (see the record include)
  state       HASH    id -> packed state of the job (see the record include)
  parked*     LIST    one per task of `tasks`: its jobs held back by its limit

ARGV
  version     schema version expected by the caller
  token_ttl_ms  lifetime of the idempotency marker, in ms
  tasks*      the tasks of the jobs below (their parked lists: `parked`)
  jobs*3      one group of three per job: id, meta, payload
              meta is "t" or "t:at_ms:delay_ms:max_retries", t the job's task number (1 for
              the first of `tasks`); the short form means due now, at most once:
                due = at_ms if at_ms > 0 else now + delay_ms; due <= now means ready now;
                max_retries: 0 at most once, n > 0 retried up to n times, -1 no limit.
              A job ready now whose task has a limit waits in the task's parked list.

REPLY
  queued      jobs queued to run now
  delayed     jobs waiting for their due time
  duplicates  jobs skipped because their id is already known to the queue

Status 1 (ALREADY_DONE): this call already ran (a retry after a lost reply): nothing done.
]]
--- @include "prelude"
--- @include "record"
--- @include "limits"
--- @include "schema_guard"

local q = {ready = KEY.ready, jobs = KEY.jobs, state = KEY.state}
local ids = {}
for i = ARG.jobs, ARG.jobs + ARG.jobs_n - 1, 3 do
  ids[#ids + 1] = ARGV[i]
end
local known = hmget_sliced(KEY.state, ids)

if not redis.call('SET', KEY.token, '1', 'NX', 'PX', ARG.token_ttl_ms) then
  return {1}
end

local now = now_ms()
local names = load_tasks(q, ARG.tasks, ARG.tasks_n, KEY.parked, KEY.limits)
local earliest_before = earliest_due(KEY.delayed)

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

local new_ids, envelopes, records = {}, {}, {}
local ready_ids, ready_tasks, delayed_args = {}, {}, {}
local seen = {}
local earliest = nil
local duplicates = 0
for n, id in ipairs(ids) do
  if known[n] or seen[id] then
    duplicates = duplicates + 1
  else
    seen[id] = true
    local i = ARG.jobs + (n - 1) * 3
    local meta = parse_meta(ARGV[i + 1])
    new_ids[#new_ids + 1] = id
    envelopes[#envelopes + 1] = ARGV[i + 2]
    records[#records + 1] = {t = meta[1], c = now, b = meta[4] ~= '0' and meta[4] or nil}
    local due = meta[2]
    if due <= 0 then
      due = now + meta[3]
    end
    if due <= now then
      ready_ids[#ready_ids + 1] = id
      ready_tasks[#ready_tasks + 1] = meta[1]
    else
      delayed_args[#delayed_args + 1] = due
      delayed_args[#delayed_args + 1] = id
      if earliest == nil or due < earliest then
        earliest = due
      end
    end
  end
end
create_records(q, new_ids, envelopes, records)
call_sliced('ZADD', KEY.delayed, delayed_args)
route(q, ready_ids, ready_tasks)

-- Wake one idle worker when there is work now, or when the next due time moved earlier (its
-- sleeping workers must shorten their wait).
if #ready_ids > 0 or (earliest and (earliest_before == nil or earliest < earliest_before)) then
  ensure_wake_token(KEY.wake)
end
return reply{queued = #ready_ids, delayed = #delayed_args / 2, duplicates = duplicates}
