-- What jobs leave behind: records of finished jobs, the failed-job store, per-minute counts.
-- Needs the prelude and the record include.
--
-- A finished job (succeeded or cancelled) leaves a compact record in the queue's `done` hash:
-- a JSON array, positional to stay small (200,000 of them fit in a few tens of MB),
--   [state, task, attempts, created_ms, started_ms, finished_ms, worker, error, max_retries]
-- with state 's' succeeded or 'c' cancelled ("" and 0 mean unknown; times are Redis's),
-- indexed by `done_index` ("<finished ms>:<id>", oldest first). A job that failed for good keeps
-- its own record (s = 'f', see the record include), indexed by `failed_index` (id -> when it
-- failed, ms). The queue description `q` names those keys, and `stats`.

-- JSON text of strings that repeat in one call (task names, worker ids): encoded once each.
local json_texts = {}
local function json_text(value)
  local text = json_texts[value]
  if text == nil then
    text = cjson.encode(value)
    json_texts[value] = text
  end
  return text
end

-- A done record, built by concatenation: cjson on a whole table per job would cost more than
-- the rest of the bookkeeping. Numbers are integers of ms (Lua prints them exactly below 1e14).
local function make_done_record(state, task, attempts, created, started, finished, worker)
  return '["' .. state .. '",' .. json_text(task or '') .. ',' .. attempts .. ','
    .. (tonumber(created) or 0) .. ',' .. started .. ',' .. finished .. ',' .. json_text(worker)
    .. ',"",0]'
end

-- Record that jobs finished: `entries` is a list of {id, record}.
local function add_done(q, now, entries)
  if #entries == 0 then
    return
  end
  local fields, index = {}, {}
  for _, entry in ipairs(entries) do
    fields[#fields + 1] = entry[1]
    fields[#fields + 1] = entry[2]
    index[#index + 1] = now .. ':' .. entry[1]
  end
  call_sliced('HSET', q.done, fields)
  call_sliced('RPUSH', q.done_index, index)
end

-- Drop done records older than `cutoff` (ms) or beyond the newest `max_count`, at most `budget`
-- of them per call; the common case (nothing to drop) costs one LLEN and one LINDEX.
local function trim_done(q, cutoff, max_count, budget)
  local excess = redis.call('LLEN', q.done_index) - max_count
  local head = redis.call('LINDEX', q.done_index, 0)
  if not head then
    return 0
  end
  if excess <= 0 and tonumber(string.match(head, '^(%d+):')) >= cutoff then
    return 0
  end
  local entries = redis.call('LRANGE', q.done_index, 0, budget - 1)
  local ids = {}
  for n, entry in ipairs(entries) do
    local at, id = string.match(entry, '^(%d+):(.*)$')
    if n > excess and tonumber(at) >= cutoff then
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

-- Keep jobs that failed for good in the failed store: their records (changed by the caller:
-- s = 'f', its time, error, traceback and last run) are indexed by when they failed.
local function add_failed(q, now, ids, records)
  if #ids == 0 then
    return
  end
  local index = {}
  for _, id in ipairs(ids) do
    index[#index + 1] = now
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

-- Per-minute counts of outcomes, for the dashboard: a ring of 120 fields in the queue's
-- `stats` hash, one per minute of Redis time modulo 120, each "<minute>:<succeeded>:<failed>:
-- <retried>". A minute's field is reused two hours later, so the hash never holds more than
-- 120 fields, and a reader skips the fields of minutes outside its window.
local STATS_MINUTES = 120

local function count_outcomes(q, now, succeeded, failed, retried)
  if succeeded + failed + retried == 0 then
    return
  end
  local minute = math.floor(now / 60000)
  local slot = minute % STATS_MINUTES
  local old = redis.call('HGET', q.stats, slot)
  local s, f, r = 0, 0, 0
  if old then
    local at, os, of, o_r = string.match(old, '^(%d+):(%d+):(%d+):(%d+)$')
    if tonumber(at) == minute then
      s, f, r = tonumber(os), tonumber(of), tonumber(o_r)
    end
  end
  redis.call('HSET', q.stats, slot,
    minute .. ':' .. (s + succeeded) .. ':' .. (f + failed) .. ':' .. (r + retried))
end
