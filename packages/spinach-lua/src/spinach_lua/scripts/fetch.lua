--[[
Record the outcomes a worker brings, then lease it as many ready jobs as it can start.

One call serves both halves of a worker's round trip: under load the outcomes of the jobs that
just finished travel with the request for the next ones. Jobs are taken by priority, higher
first, each priority in its order (see the ready include). A job met before the time its
task's rate limit allows is given its start time and waits for it in the delayed set (see the
rate include). Jobs of a limited task are taken from
its parked list first while it has free slots; a job of a task at its limit met in the ready
list is moved to its parked list, once, so no fetch scans the same blocked job twice and the
jobs of a task keep their order (an enqueue never parks a job: it reads no limit). While a
limit applies, a fetch looks at ready jobs PEEK at a time however few it can take, and takes
off the list only those it dealt with. A job whose record is gone (cancelled while queued: removing
it from its list would scan the list) is dropped when met. Due delayed jobs are promoted first,
by Redis's clock; expired leases are taken back when the caller asks (the heartbeat does it on
every beat, so a busy fetch need not).

KEYS
  ready       LIST    ids of jobs ready to run, oldest first
  ranked      ZSET    ids of ready jobs of another priority than 0 (see the ready include)
  ranked_seq  STRING  last sequence number of the ranked set
  delayed     ZSET    ids of jobs waiting for their due time (score: due ms)
  running     ZSET    ids of fetched jobs (score: lease deadline ms)
  wake        LIST    wake-up token for idle workers of this queue
  lease_seq   STRING  last fencing token handed out in this queue
  jobs        HASH    id -> record of the job (see the record include)
  limits      HASH    task -> how many of its jobs may run at once
  limited_running  ZSET  "<task>\0<id>" of running jobs of limited tasks
  done        HASH    id -> record of a finished job
  done_index  LIST    "<finished ms>:<id>" of finished jobs, oldest first
  failed_index  ZSET  id -> when it failed (ms), one per job of the failed store
  stats       HASH    per-minute counts of outcomes (see the history include)
  control     HASH    an operator's decisions: paused ("1": no job starts), max_running (at
                      most that many jobs of the queue run at once, across every worker)
  unique      HASH    unique key -> id of the job holding it (see the unique include)
  unique_until  ZSET  unique key -> until when a finished job still holds it (ms)
  rates       ZSET    "<task>\0<rate key>" -> earliest start of its next job (see the rate include)
  results     ZSET    id -> when its stored result expires (ms); each result is the LIST
                      "<results>:<id>" (see the result include)
  outbox      LIST    signals of ended workflow steps, to relay (see the workflow include)
  parked*     LIST    one per task of `tasks`: its jobs held back by its limit

ARGV
  max_jobs    how many jobs the caller can start now (0: only record the outcomes)
  lease_ms    lease duration in ms
  promote_limit  most due jobs to promote in this call
  recover_limit  most expired leases to take back in this call (0: none)
  worker      the caller's worker id (recorded in the leases: who runs what, since when)
  keep_done_ms  how long finished records are kept, in ms (0: none are written)
  max_done    most finished records kept
  keep_failed_ms  how long failed jobs are kept, in ms
  max_failed  most failed jobs kept
  max_results  most stored results kept
  tasks*      the tasks of this queue the caller knows (their parked lists: `parked`)
  outcomes*6  outcomes of jobs the caller ran (see the outcomes include)

REPLY
  applied     how many outcomes were applied
  rejected    ids whose outcome was rejected: the caller's lease is gone (fencing)
  signals     workflow signals the outcomes pushed on the outbox (the caller relays them)
  ids         ids of the jobs leased to the caller
  records     the record of each job as stored before it was leased (see the record include:
              its envelope, its retries so far, and whether its worker died mid-run and it
              may not run again, which the caller then reports failed instead of running it)
  leases      lease value of each job (its fencing token)
  ready_left  jobs that could start now (ready, or parked with a free slot); when the caller
              got all it asked for, at least 1 if any job may be left (it fetches again)
  delayed_left  jobs waiting for their due time (-1 when ready_left > 0)
  next_due_ms  ms until the earliest delayed job is due (-1: none, or ready_left > 0)
  running_left  jobs of the queue running anywhere (-1 when ready_left > 0)
  next_expiry_ms  ms until the earliest lease deadline, when a sleeping worker should look
              for an abandoned job (-1: none, or ready_left > 0)
  held_ready  while the queue is paused or at its max_running, the jobs ready to start once it
              is resumed or a slot frees (not counted in ready_left); else 0
]]
--- @include "prelude"
--- @include "control"
--- @include "record"
--- @include "lease"
--- @include "ready"
--- @include "limits"
--- @include "history"
--- @include "recovery"
--- @include "unique"
--- @include "rate"
--- @include "result"
--- @include "workflow"
--- @include "outcomes"

local now = now_ms()
local paused, max_running = read_control(KEY.control)
local q = {
  ready = KEY.ready, ranked = KEY.ranked, ranked_seq = KEY.ranked_seq, delayed = KEY.delayed, running = KEY.running, wake = KEY.wake,
  lease_seq = KEY.lease_seq, limited_running = KEY.limited_running, done = KEY.done,
  done_index = KEY.done_index, failed_index = KEY.failed_index, jobs = KEY.jobs,
  stats = KEY.stats, unique = KEY.unique, unique_until = KEY.unique_until, rates = KEY.rates,
  results = KEY.results, outbox = KEY.outbox, capped = max_running ~= nil,
}
local names = load_tasks(q, ARG.tasks, ARG.tasks_n, KEY.parked, KEY.limits)
local applied, rejected, signals = apply_outcomes(q, now, ARG.outcomes, ARG.outcomes_n, {
  keep_done = tonumber(ARG.keep_done_ms), max_done = tonumber(ARG.max_done),
  keep_failed = tonumber(ARG.keep_failed_ms), max_failed = tonumber(ARG.max_failed),
  max_results = tonumber(ARG.max_results),
})
local wanted = tonumber(ARG.max_jobs)

if tonumber(ARG.recover_limit) > 0 then
  recover_expired(q, now, tonumber(ARG.recover_limit))
end

-- A paused queue starts nothing, nor one at its limit; the rest of the call (outcomes,
-- recovery, promotion) goes on. The limit counts the queue's leases after the outcomes and
-- the recovery above.
local held = false
if wanted > 0 and (paused or max_running) then
  if paused then
    wanted = 0
  else
    wanted = math.max(0, math.min(wanted, max_running - redis.call('ZCARD', KEY.running)))
  end
  held = wanted == 0
end

-- Promotion uses Redis time, so no job is taken before its due time whatever the workers' clocks.
local head = earliest_due(KEY.delayed)
if head and head <= now then
  local due = redis.call('ZRANGEBYSCORE', KEY.delayed, '-inf', now, 'LIMIT', 0, tonumber(ARG.promote_limit))
  local due_tasks, due_priorities = {}, nil
  local limiting = next(q.limits) ~= nil
  if limiting or uses_priorities(q) then
    due_priorities = {}
    for n, raw in ipairs(read_raw(q, due)) do
      due_tasks[n] = limiting and raw and task_of(raw)
      due_priorities[n] = raw and priority_of(raw) or 0
    end
  end
  call_sliced('ZREM', KEY.delayed, due)
  route(q, due, due_tasks, due_priorities)
end

local spare = {}
for _, name in ipairs(names) do
  if q.limits[name] then
    spare[name] = q.limits[name] - running_of(q, name)
  end
end

-- The jobs are taken as their records are stored: nothing of them is unpacked here but the
-- task of a job when a limit applies (the worker reads the rest).
local ids, raws, limited = {}, {}, {}
local function take(id, raw, slot)
  local n = #ids + 1
  ids[n], raws[n], limited[n] = id, raw, slot
end

-- Rate-limited jobs given a later start time: they wait for it in the delayed set.
local later_ids, later_records, later_due = {}, {}, {}
local function later(id, raw, start)
  local record = unpack_record(raw)
  record.rs = start
  later_ids[#later_ids + 1] = id
  later_records[#later_records + 1] = record
  later_due[#later_due + 1] = start
  later_due[#later_due + 1] = id
end

-- Parked jobs first: they are the oldest of their task. (When a task loses its limit, its
-- parked jobs go back to the ready list at once: only limited tasks have parked jobs.)
for _, name in ipairs(names) do
  local room = math.min(wanted - #ids, spare[name] or 0)
  if room > 0 then
    local waiting = redis.call('LPOP', q.parked[name], room) or {}
    for n, raw in ipairs(read_raw(q, waiting)) do
      local paced = raw and rate_limited(raw)
      local start = paced and rate_turn(q, raw, now)
      if start then
        later(waiting[n], raw, start)
      elseif raw then  -- else cancelled while parked: dropped here
        take(waiting[n], paced and without_turn(raw) or raw, true)
        spare[name] = spare[name] - 1
      end
    end
  end
end

-- Then the ready jobs by priority: those above the default, the ready list, those below it.
-- Jobs of a task at its limit are set aside in its parked list, so that no fetch meets them
-- twice. Popping goes on past them, a bounded number of times (fewer past rate-limited jobs,
-- whose records are rewritten: the call stays short, and the caller fetches again).
local limiting = next(spare) ~= nil
-- Each source shows ids from its head (`show(count)`) and lets go of the first `n` it showed
-- (`drop(shown, n)`). Without a limit every id shown is dealt with, so LPOP does both. Where a
-- limit applies, many ids met may be of a task at its limit, which are set aside: the fetch
-- then looks at PEEK ids at least per pass, however few it can take, and lets go of those it
-- dealt with, up to the first it could take but had no room for.
local PEEK = 50
local function popping(count)
  return redis.call('LPOP', KEY.ready, count) or {}
end
local function kept() end
local sources = {{show = popping, drop = kept}}
if limiting then
  sources[1] = {
    show = function(count) return redis.call('LRANGE', KEY.ready, 0, count - 1) end,
    drop = function(_, n) if n > 0 then redis.call('LTRIM', KEY.ready, n, -1) end end,
  }
end
if redis.call('EXISTS', KEY.ranked) == 1 then
  local function ranked_source(above)
    local function drop(shown, n)
      if n > 0 then
        redis.call('ZREM', KEY.ranked, unpack(shown, 1, n))
      end
    end
    if limiting then
      return {show = function(count) return peek_ranked(q, above, count) end, drop = drop}
    end
    return {show = function(count) return pop_ranked(q, above, count) end, drop = kept}
  end
  sources = {ranked_source(true), sources[1], ranked_source(false)}
end
local popped_all = true  -- whether every source was emptied
local moved = 0
for _, source in ipairs(sources) do
  local drained = false
  while #ids < wanted and moved < 1000 and #later_ids < 100 do
    local ask = wanted - #ids
    if limiting and ask < PEEK then
      ask = PEEK
    end
    local popped = source.show(ask)
    if #popped == 0 then
      drained = true
      break
    end
    local held = {}
    local dealt = #popped
    for n, raw in ipairs(read_raw(q, popped)) do
      local id = popped[n]
      local task = limiting and raw and task_of(raw)
      if not raw then
        moved = moved + 1  -- no record: cancelled while queued, dropped here
      elseif task and spare[task] and spare[task] <= 0 then
        held[task] = held[task] or {}
        held[task][#held[task] + 1] = id
        moved = moved + 1
      elseif #ids >= wanted then
        -- No room for it (only a source that peeks shows more ids than there is room for):
        -- it stays first, with those after it.
        dealt = n - 1
        break
      else
        local paced = rate_limited(raw)
        local start = paced and rate_turn(q, raw, now)
        if start then
          later(id, raw, start)
          moved = moved + 1
        else
          if paced then
            raw = without_turn(raw)
          end
          if task and spare[task] then
            spare[task] = spare[task] - 1
            take(id, raw, true)
          else
            take(id, raw, false)
          end
        end
      end
    end
    source.drop(popped, dealt)
    for task, waiting in pairs(held) do
      call_sliced('RPUSH', q.parked[task], waiting)
    end
    drained = #popped < ask and dealt == #popped
    if drained then
      break
    end
  end
  if not drained then
    popped_all = false
    break
  end
end

if #later_ids > 0 then
  write_records(q, later_ids, later_records)
  call_sliced('ZADD', KEY.delayed, later_due)
end

local slots = {}
for n, id in ipairs(ids) do
  if limited[n] then
    slots[#slots + 1] = 0
    slots[#slots + 1] = limited_member(task_of(raws[n]), id)
  end
end
local leases = grant_leases(q, ids, raws, limited, now, tonumber(ARG.lease_ms), ARG.worker)
for n, id in ipairs(ids) do
  if may_be_unique(raws[n]) then  -- a key held only until the job starts is let go now
    release_unique(q, id, unpack_record(raws[n]), 's', now)
  end
end
call_sliced('ZADD', KEY.limited_running, slots)

-- Whether jobs may be left that could start now. A caller that got all it asked for is told
-- "maybe" without a count (it fetches again at once); one that got fewer is told exactly.
local ready_left = 0
if held then
  popped_all = true  -- nothing was popped: ready_left stays 0, held_ready counts the jobs
elseif not popped_all then
  ready_left = 1
elseif next(spare) then
  for _, name in ipairs(names) do
    if spare[name] and spare[name] > 0 then
      ready_left = ready_left + math.min(spare[name], redis.call('LLEN', q.parked[name]))
    end
  end
end
local result = {
  applied = applied, rejected = rejected, signals = signals, ids = ids, records = raws,
  leases = leases,
  ready_left = ready_left, held_ready = 0,
}
if ready_left > 0 then
  -- More work than this worker took: pass the wake-up on to another idle worker. The caller
  -- fetches again without sleeping, so the figures below are not needed: skip their cost.
  ensure_wake_token(KEY.wake)
  result.delayed_left, result.next_due_ms, result.running_left, result.next_expiry_ms = -1, -1, -1, -1
  return reply(result)
end
-- Nothing left to start: no idle worker needs waking for it.
redis.call('DEL', KEY.wake)
result.delayed_left = redis.call('ZCARD', KEY.delayed)
result.next_due_ms = ms_until_earliest(KEY.delayed, now)
result.running_left = redis.call('ZCARD', KEY.running)
result.next_expiry_ms = ms_until_earliest(KEY.running, now)
if held then
  local waiting = redis.call('LLEN', KEY.ready) + redis.call('ZCARD', KEY.ranked)
  for _, name in ipairs(names) do
    if q.limits[name] then
      waiting = waiting + redis.call('LLEN', q.parked[name])
    end
  end
  result.held_ready = waiting
end
return reply(result)
