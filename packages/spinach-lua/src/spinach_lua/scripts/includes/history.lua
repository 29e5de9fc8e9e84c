-- What jobs leave behind: records of finished jobs, the failed-job store, per-minute counts.
-- Needs the prelude and the record include.
--
-- A finished job (succeeded or cancelled) leaves a done record in the queue's `done` hash (see
-- make_done_record), indexed by `done_index` ("<finished ms>:<id>", oldest first). A job that failed for good keeps
-- its own record (s = 'f', see the record include), indexed by `failed_index` (id -> when it
-- failed, ms). The queue description `q` names those keys, and `stats`.

-- A done record: "<state letter>\3<finished ms>\3<lease and state of the job's record>", the
-- letter 's' (succeeded) or 'c' (cancelled). The record is kept as it was, without its
-- envelope: Python reads it when asked (get_job, the dashboard), the hot path never parses it.
-- What a done record puts before the state: a batch of outcomes builds it once.
local function done_record_prefix(letter)
  return letter .. '\3' .. now_text() .. '\3'
end

local function make_done_record(letter, state)
  return done_record_prefix(letter) .. state
end

-- Drop done records older than `cutoff` (ms) or beyond the newest `max_count`, at most `budget`
-- of them per call. `length` is the index's length when the caller knows it.
local function trim_done(q, cutoff, max_count, budget, length)
  local excess = (length or redis.call('LLEN', q.done_index)) - max_count
  if excess <= 0 and cutoff == nil then
    return 0
  end
  local entries = redis.call('LRANGE', q.done_index, 0, budget - 1)
  local ids = {}
  for n, entry in ipairs(entries) do
    local at, id = string.match(entry, '^(%d+):(.*)$')
    if n > excess and (cutoff == nil or tonumber(at) >= cutoff) then
      break
    end
    ids[#ids + 1] = id
  end
  if #ids > 0 then
    redis.call('LTRIM', q.done_index, #ids, -1)
    call_sliced('HDEL', q.done, ids)
  end
  return #ids
end

-- Record that jobs finished (`fields`: id, done record, id, done record...), keeping at most
-- `max_count`. Their age is bounded by the housekeeper's expire_records, which need not run on
-- every call.
local function add_done(q, now, fields, max_count)
  if #fields == 0 then
    return
  end
  local index = {}
  local stamp = now_text() .. ':'
  for n = 1, #fields, 2 do
    index[#index + 1] = stamp .. fields[n]
  end
  call_sliced('HSET', q.done, fields)  -- SLICE is even: no slice splits a pair
  local length = 0
  for first = 1, #index, SLICE do
    length = redis.call('RPUSH', q.done_index, unpack(index, first, math.min(first + SLICE - 1, #index)))
  end
  if length > max_count then
    trim_done(q, nil, max_count, #index + 100, length)
  end
end

-- Keep jobs that failed for good in the failed store: their records (changed by the caller:
-- s = 'f', its time, error, traceback and last run) are indexed by when they failed.
local function add_failed(q, now, ids, records)
  if #ids == 0 then
    return
  end
  local index = {}
  for _, id in ipairs(ids) do
    index[#index + 1] = now_text()
    index[#index + 1] = id
  end
  write_records(q, ids, records)
  call_sliced('ZADD', q.failed_index, index)
end

-- Delete jobs of the failed store for good (their ids come from its index).
local function forget_failed(q, ids)
  call_sliced('ZREM', q.failed_index, ids)
  delete_records(q, ids)
end

-- Drop failed jobs older than `cutoff` (ms), then the oldest beyond `max_count`; at most
-- `budget` per call.
local function trim_failed(q, cutoff, max_count, budget)
  local old = redis.call('ZRANGEBYSCORE', q.failed_index, '-inf', '(' .. cutoff, 'LIMIT', 0, budget)
  forget_failed(q, old)
  local excess = math.min(redis.call('ZCARD', q.failed_index) - max_count, budget - #old)
  if excess > 0 then
    local oldest = redis.call('ZRANGE', q.failed_index, 0, excess - 1)
    forget_failed(q, oldest)
    return #old + #oldest
  end
  return #old
end

-- Per-minute counts of outcomes, for the dashboard: fields "<minute>:s", "<minute>:f" and
-- "<minute>:r" (succeeded, failed for good, retried) of the queue's `stats` hash, the minute
-- being Redis time // 60,000 ms. One HINCRBY per kind and call; expire_records drops the fields
-- older than STATS_MINUTES, so the hash stays small.
local STATS_MINUTES = 120

local function count_outcomes(q, now, succeeded, failed, retried)
  local minute = math.floor(now / 60000)
  if succeeded > 0 then
    redis.call('HINCRBY', q.stats, minute .. ':s', succeeded)
  end
  if failed > 0 then
    redis.call('HINCRBY', q.stats, minute .. ':f', failed)
  end
  if retried > 0 then
    redis.call('HINCRBY', q.stats, minute .. ':r', retried)
  end
end

-- Drop the per-minute counts older than STATS_MINUTES; return how many fields were dropped.
local function trim_counts(q, now)
  local oldest = math.floor(now / 60000) - STATS_MINUTES
  local stale = {}
  for _, field in ipairs(redis.call('HKEYS', q.stats)) do
    local minute = tonumber(string.match(field, '^(%d+):'))
    if not minute or minute < oldest then
      stale[#stale + 1] = field
    end
  end
  call_sliced('HDEL', q.stats, stale)
  return #stale
end
