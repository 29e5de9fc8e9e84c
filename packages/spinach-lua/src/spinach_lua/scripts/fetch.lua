--[[
Record the outcomes a worker brings, then lease it as many ready jobs as it can start.

One call serves both halves of a worker's round trip: under load the outcomes of the jobs that
just finished travel with the request for the next ones. Jobs of a limited task are taken from
its parked list first while it has free slots; a job of a task at its limit met in the ready
list is moved to its parked list, once, so no fetch scans the same blocked job twice and the
jobs of a task keep their order. A job whose record is gone (cancelled while queued: removing
it from its list would scan the list) is dropped when met. Due delayed jobs are promoted first,
by Redis's clock; expired leases are taken back when the caller asks (the heartbeat does it on
every beat, so a busy fetch need not).

KEYS
  schema      STRING  schema version of this queue's data
  ready       LIST    ids of jobs ready to run, oldest first
  delayed     ZSET    ids of jobs waiting for their due time (score: due ms)
  running     ZSET    ids of fetched jobs (score: lease deadline ms)
  wake        LIST    wake-up token for idle workers of this queue
  lease_seq   STRING  last fencing token handed out in this queue
  jobs        HASH    id -> envelope (see the record include)
  state       HASH    id -> packed state of the job (see the record include)
  limits      HASH    task -> how many of its jobs may run at once
  limited_running  ZSET  "<task>\0<id>" of running jobs of limited tasks
  done        HASH    id -> record of a finished job
  done_index  LIST    "<finished ms>:<id>" of finished jobs, oldest first
  failed_index  ZSET  id -> when it failed (ms), one per job of the failed store
  stats       HASH    per-minute counts of outcomes (see the history include)
  parked*     LIST    one per task of `tasks`: its jobs held back by its limit

ARGV
  version     schema version expected by the caller
  max_jobs    how many jobs the caller can start now (0: only record the outcomes)
  lease_ms    lease duration in ms
  promote_limit  most due jobs to promote in this call
  recover_limit  most expired leases to take back in this call (0: none)
  worker      the caller's worker id (recorded in the leases: who runs what, since when)
  keep_done_ms  how long finished records are kept, in ms (0: none are written)
  max_done    most finished records kept
  keep_failed_ms  how long failed jobs are kept, in ms
  max_failed  most failed jobs kept
  tasks*      the tasks of this queue the caller knows (their parked lists: `parked`)
  outcomes*6  outcomes of jobs the caller ran (see the outcomes include)

REPLY
  applied     how many outcomes were applied
  rejected    ids whose outcome was rejected: the caller's lease is gone (fencing)
  ids         ids of the jobs leased to the caller
  payloads    envelope of each job, false when its record has none (a corrupt job)
  retries     retries already scheduled of each job
  leases      lease value of each job (its fencing token)
  abandoned   1 for a job whose worker died mid-run and that may not run again: the caller
              reports it failed instead of running it
  ready_left  jobs that could start now (ready, or parked with a free slot)
  delayed_left  jobs waiting for their due time (-1 when ready_left > 0)
  next_due_ms  ms until the earliest delayed job is due (-1: none, or ready_left > 0)
  running_left  jobs of the queue running anywhere (-1 when ready_left > 0)
  next_expiry_ms  ms until the earliest lease deadline, when a sleeping worker should look
              for an abandoned job (-1: none, or ready_left > 0)
]]
--- @include "prelude"
--- @include "record"
--- @include "lease"
--- @include "limits"
--- @include "history"
--- @include "recovery"
--- @include "outcomes"
--- @include "schema_guard"

local now = now_ms()
local q = {
  ready = KEY.ready, delayed = KEY.delayed, running = KEY.running, wake = KEY.wake,
  lease_seq = KEY.lease_seq, limited_running = KEY.limited_running, done = KEY.done,
  done_index = KEY.done_index, failed_index = KEY.failed_index, jobs = KEY.jobs,
  state = KEY.state, stats = KEY.stats,
}
local names = load_tasks(q, ARG.tasks, ARG.tasks_n, KEY.parked, KEY.limits)
local applied, rejected = apply_outcomes(q, now, ARG.outcomes, ARG.outcomes_n, {
  keep_done = tonumber(ARG.keep_done_ms), max_done = tonumber(ARG.max_done),
  keep_failed = tonumber(ARG.keep_failed_ms), max_failed = tonumber(ARG.max_failed),
})
local wanted = tonumber(ARG.max_jobs)

if tonumber(ARG.recover_limit) > 0 then
  recover_expired(q, now, tonumber(ARG.recover_limit))
end

-- Promotion uses Redis time, so no job is taken before its due time whatever the workers' clocks.
local head = earliest_due(KEY.delayed)
if head and head <= now then
  local due = redis.call('ZRANGEBYSCORE', KEY.delayed, '-inf', now, 'LIMIT', 0, tonumber(ARG.promote_limit))
  local due_tasks = {}
  if next(q.limits) then
    for n, record in ipairs(read_records(q, due)) do
      due_tasks[n] = record and record.t
    end
  end
  call_sliced('ZREM', KEY.delayed, due)
  route(q, due, due_tasks)
end

local spare = {}
for _, name in ipairs(names) do
  if q.limits[name] then
    spare[name] = q.limits[name] - running_of(q, name)
  end
end

-- What is taken, and from which list, is decided from reads alone; the lists change after.
local ids, records, id_tasks = {}, {}, {}
local trims, held = {}, {}
local function take(id, record)
  local n = #ids + 1
  ids[n], records[n], id_tasks[n] = id, record, record.t
end

-- Parked jobs first: they are the oldest of their task. (When a task loses its limit, its
-- parked jobs go back to the ready list at once: only limited tasks have parked jobs.)
for _, name in ipairs(names) do
  local room = math.min(wanted - #ids, spare[name] or 0)
  if room > 0 then
    local waiting = redis.call('LRANGE', q.parked[name], 0, room - 1)
    for n, record in ipairs(read_records(q, waiting)) do
      if record then  -- else cancelled while parked: dropped here
        take(waiting[n], record)
        spare[name] = spare[name] - 1
      end
    end
    trims[#trims + 1] = {q.parked[name], #waiting}
  end
end

-- Then one window of the ready list. Jobs of a task at its limit are set aside in its parked
-- list; a queue with limited tasks looks a little further, past such jobs.
if #ids < wanted then
  local window = wanted - #ids
  if next(spare) then
    window = window + 100
  end
  local popped = redis.call('LRANGE', KEY.ready, 0, window - 1)
  local found = read_records(q, popped)
  local consumed = 0
  for n, id in ipairs(popped) do
    if #ids >= wanted then
      break
    end
    consumed = n
    local record = found[n]
    local task = record and record.t
    if not record then
      -- no record: cancelled while queued, dropped here
    elseif spare[task] and spare[task] <= 0 then
      held[task] = held[task] or {}
      held[task][#held[task] + 1] = id
    else
      take(id, record)
      if spare[task] then
        spare[task] = spare[task] - 1
      end
    end
  end
  trims[#trims + 1] = {KEY.ready, consumed}
end

for _, trim in ipairs(trims) do
  local list, consumed = trim[1], trim[2]
  if consumed > 0 then
    redis.call('LTRIM', list, consumed, -1)
  end
end
for task, waiting in pairs(held) do
  call_sliced('RPUSH', q.parked[task], waiting)
end
local payloads, retries, abandoned = read_envelopes(q, ids), {}, {}
for n, record in ipairs(records) do
  payloads[n] = payloads[n] or false
  retries[n] = tonumber(record.r) or 0
  abandoned[n] = record.x and 1 or 0
end
local leases = grant_leases(q, ids, records, now, tonumber(ARG.lease_ms), ARG.worker)
local limited = {}
for n, id in ipairs(ids) do
  local name = id_tasks[n]
  if name and q.limits[name] then
    limited[#limited + 1] = 0
    limited[#limited + 1] = limited_member(name, id)
  end
end
call_sliced('ZADD', KEY.limited_running, limited)

local ready_left = redis.call('LLEN', KEY.ready)
for _, name in ipairs(names) do
  if spare[name] and spare[name] > 0 then
    ready_left = ready_left + math.min(spare[name], redis.call('LLEN', q.parked[name]))
  end
end
local result = {
  applied = applied, rejected = rejected, ids = ids, payloads = payloads, retries = retries,
  leases = leases, abandoned = abandoned, ready_left = ready_left,
}
if ready_left > 0 then
  -- More work than this worker took: pass the wake-up on to another idle worker. The caller
  -- fetches again without sleeping, so the figures below are not needed: skip their cost.
  ensure_wake_token(KEY.wake)
  result.delayed_left, result.next_due_ms, result.running_left, result.next_expiry_ms = -1, -1, -1, -1
  return reply(result)
end
result.delayed_left = redis.call('ZCARD', KEY.delayed)
result.next_due_ms = ms_until_earliest(KEY.delayed, now)
result.running_left = redis.call('ZCARD', KEY.running)
result.next_expiry_ms = ms_until_earliest(KEY.running, now)
return reply(result)
