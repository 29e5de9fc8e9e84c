--[[
Enqueue jobs of one queue, atomically and at most once per call.

A job ready now goes to the tail of its priority (see the ready include); a job due later
waits in the delayed set. A job of a task at its concurrency limit is set aside in the task's
parked list by the first fetch that meets it (see the fetch script), so an enqueue never reads
the limits. A job whose id the queue already knows is skipped. A job with a unique key that a live job of the queue holds is not
sent: the reply names that job instead (with debounce, the waiting job takes the new job's
arguments and due time). Within one call, the first job of a key is the one sent.

KEYS
  token       STRING  idempotency marker of this call (expires after token_ttl_ms)
  ready       LIST    ids of jobs ready to run, oldest first
  ranked      ZSET    ids of ready jobs of another priority than 0 (see the ready include)
  ranked_seq  STRING  last sequence number of the ranked set
  delayed     ZSET    ids of jobs waiting for their due time (score: due ms, Redis time)
  wake        LIST    wake-up token for idle workers of this queue
  jobs        HASH    id -> record of the job (see the record include)
  unique      HASH    unique key -> id of the job holding it (see the unique include)
  unique_until  ZSET  unique key -> until when a finished job still holds it (ms)

ARGV
  token_ttl_ms  lifetime of the idempotency marker, in ms
  now_ms      the caller's estimate of Redis time (ms), kept as the jobs' queued time; 0: the
              call reads Redis's clock (TIME) for it. Redis's own clock decides every due time
              and unique key, read only for the jobs that need it.
  tasks*      the tasks of the jobs below
  batch*3     one group of three per job: id, meta, payload
              meta is "t" or "t:at_ms:delay_ms:max_retries:priority:result_ttl:interval", then
              ":rule:unique key" if it has a unique key, then "\3rate key" if it has a rate
              key; t is the job's task number (1 for the first of `tasks`); the short form
              means due now, at most once, priority 0, no limit:
                due = at_ms if at_ms > 0 else now + delay_ms; due <= now means ready now;
                max_retries: 0 at most once, n > 0 retried up to n times, -1 no limit;
                priority: -10 to 10, higher first (0 the default);
                result_ttl: how long its result is kept, in ms (0: it stores none);
                interval: ms between two starts under its task's rate limit (empty: none);
                rule: how the unique key is held (see the unique include).

REPLY
  queued      jobs queued to run now
  delayed     jobs waiting for their due time
  duplicates  jobs skipped because their id is already known to the queue
  existing    for each job not sent because its unique key is held: its id, then the id of
              the job holding the key (flat pairs)
  clock       Redis time (ms) if the call read it, else 0: the caller's next estimate

Status 1 (ALREADY_DONE): this call already ran (a retry after a lost reply): nothing done; the
second value is the first run's `existing`, its ids joined by NUL bytes.
]]
--- @include "prelude"
--- @include "record"
--- @include "lease"
--- @include "ready"
--- @include "unique"

if not redis.call('SET', KEY.token, '1', 'NX', 'PX', ARG.token_ttl_ms) then
  local prior = redis.call('GET', KEY.token)  -- '1' when the first run named no live job
  return {1, prior ~= '1' and prior or ''}
end

local q = {
  jobs = KEY.jobs, ready = KEY.ready, ranked = KEY.ranked, ranked_seq = KEY.ranked_seq,
  unique = KEY.unique, unique_until = KEY.unique_until,
}

-- Redis time, read once and only when a job needs it: a job due now, without a unique key,
-- needs no clock but for its queued time, which the caller's estimate gives.
local clock = nil
local function now()
  if clock == nil then
    clock = now_ms()
  end
  return clock
end
local queued_at = ARG.now_ms ~= '0' and ARG.now_ms or nil
local function queued_text()
  if queued_at == nil then
    now()
    queued_at = now_text()
  end
  return queued_at
end

local names = {}
for n = 1, ARG.tasks_n do
  names[n] = ARGV[ARG.tasks + n - 1]
end

-- Jobs of one batch mostly share their meta: parse each distinct one once.
local metas = {}
local function parse_meta(meta)
  local parsed = metas[meta]
  if parsed == nil then
    local t, at, delay, budget, priority, result_ttl, interval, rest = string.match(
      meta, '^(%d+):(%-?%d+):(%-?%d+):(%-?%d+):(%-?%d+):(%d+):([^:\3]*)(.*)$')
    if t then
      parsed = {names[tonumber(t)], tonumber(at), tonumber(delay), budget ~= '0' and budget or nil}
      local unique, rate_key = string.match(rest, '^([^\3]*)\3?(.*)$')
      local rule, key = string.match(unique, '^:([^:]+):(.+)$')
      parsed[5], parsed[6], parsed[7] = key, rule, tonumber(priority)
      parsed[8] = interval ~= '' and (interval .. '\3' .. rate_key) or nil
      parsed[9] = result_ttl ~= '0' and result_ttl or nil
    else
      parsed = {names[tonumber(meta)], 0, 0, nil, nil, nil, 0, nil, nil}
    end
    -- Everything of a new record but its envelope follows from the meta and the queued time.
    parsed[10] = record_template{
      t = parsed[1], c = queued_text(), b = parsed[4], k = parsed[5], km = parsed[6],
      p = parsed[7] ~= 0 and parsed[7] or nil, rl = parsed[8], rt = parsed[9],
    }
    metas[meta] = parsed
  end
  return parsed
end

local count = ARG.batch_n / 3
local known = {}
if count > 1 then  -- one HMGET for the batch; a single job is checked by HSETNX below
  local ids = {}
  for n = 1, count do
    ids[n] = ARGV[ARG.batch + (n - 1) * 3]
  end
  known = hmget_sliced(KEY.jobs, ids)
end

local new_ids, new_raws, ready_ids, delayed_args = {}, {}, {}, {}
local ready_priorities = {}
local ranked = false  -- whether a job ready now has another priority than 0
local seen, claimed, existing = {}, {}, {}
local earliest = nil
local duplicates = 0
local wake = false

-- Debounce: the waiting job `holder` takes the arguments (envelope) and retry budget of a
-- duplicate of the same task, and its due time when it still waits in the delayed set.
local function debounce(holder, task, budget, envelope, due)
  local record = unpack_record(redis.call('HGET', KEY.jobs, holder))
  if not record or record.l or record.x or record.s or record.t ~= task then
    return  -- running, finished, or of another task: it stays as it is
  end
  record.e, record.b = envelope, budget  -- the envelope carries the budget too
  write_records(q, {holder}, {record})
  if redis.call('ZSCORE', KEY.delayed, holder) then
    if due <= now() then
      redis.call('ZREM', KEY.delayed, holder)
      ready_ids[#ready_ids + 1] = holder
      ready_priorities[#ready_ids] = tonumber(record.p) or 0
      ranked = ranked or ready_priorities[#ready_ids] ~= 0
    else
      redis.call('ZADD', KEY.delayed, due, holder)
      wake = true  -- the next due time may have moved earlier
    end
  end
end

for n = 1, count do
  local i = ARG.batch + (n - 1) * 3
  local id = ARGV[i]
  local meta = parse_meta(ARGV[i + 1])
  local key = meta[5]
  local due = meta[2]  -- 0: now, without reading the clock (0 <= any time)
  if due <= 0 and meta[3] > 0 then
    due = now() + meta[3]
  end
  local ready_now = due <= 0 or due <= now()
  local holder = key and (claimed[key] or unique_holder(q, key, now()))
  local fresh
  if holder then
    fresh = false
    existing[#existing + 1] = id
    existing[#existing + 1] = holder
    if not claimed[key] and select(2, unique_rule(meta[6])) then
      debounce(holder, meta[1], meta[4], ARGV[i + 2], due)
    end
  else
    if count == 1 then
      fresh = create_raw(q, id, with_envelope(meta[10], ARGV[i + 2]))
    else
      fresh = not known[n] and not seen[id]
      if fresh then
        seen[id] = true
        new_ids[#new_ids + 1] = id
        new_raws[#new_raws + 1] = with_envelope(meta[10], ARGV[i + 2])
      end
    end
    if not fresh then
      duplicates = duplicates + 1
    elseif key then
      claimed[key] = id
      hold_unique(q, key, id)
    end
  end
  if fresh then
    if ready_now then
      ready_ids[#ready_ids + 1] = id
      ready_priorities[#ready_ids] = meta[7]
      ranked = ranked or meta[7] ~= 0
    else
      delayed_args[#delayed_args + 1] = due
      delayed_args[#delayed_args + 1] = id
      if earliest == nil or due < earliest then
        earliest = due
      end
    end
  end
end
write_raw(q, new_ids, new_raws)

-- Wake one idle worker when there is work now (the ready list was empty: the workers may all
-- be asleep; a fetch that leaves no work behind clears the token), or when the next due time
-- moved earlier (sleeping workers must shorten their wait).
if #ready_ids > 0 then
  if ranked then
    push_ready(q, ready_ids, ready_priorities, false)
    wake = true
  else
    local length = 0
    for first = 1, #ready_ids, SLICE do
      length = redis.call('RPUSH', KEY.ready, unpack(ready_ids, first, math.min(first + SLICE - 1, #ready_ids)))
    end
    wake = wake or length == #ready_ids
  end
end
if earliest then
  local earliest_before = earliest_due(KEY.delayed)
  call_sliced('ZADD', KEY.delayed, delayed_args)
  wake = wake or earliest_before == nil or earliest < earliest_before
end
if wake then
  redis.call('RPUSH', KEY.wake, '1')
end
if #existing > 0 then  -- kept for a retry of this call after a lost reply
  redis.call('SET', KEY.token, table.concat(existing, '\0'), 'XX', 'KEEPTTL')
end
return reply{
  queued = #ready_ids, delayed = #delayed_args / 2, duplicates = duplicates, existing = existing,
  clock = clock or 0,
}
