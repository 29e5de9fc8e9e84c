-- What jobs leave behind: records of finished jobs, the failed-job store, per-minute counts.
-- Needs the prelude and the record include.
--
-- A finished job (succeeded or cancelled) leaves a compact record in the queue's `done` hash:
-- a JSON array, positional to stay small (200,000 of them fit in a few tens of MB),
--   [state, task, attempts, created_ms, started_ms, finished_ms, worker, error, max_retries]
-- with state 's' succeeded or 'c' cancelled ("" and 0 mean unknown; times are Redis's),
-- indexed by `done_index` ("<finished ms>:<id>", oldest first). A job that failed for good keeps
-- its own record (s = 'f', see the record include), indexed by `failed_index` (id -> when it
-- failed, ms). The queue description `q` names those keys.

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

-- Keep jobs that failed for good in the failed store: `entries` is a list of
-- {id, error, traceback, ran, unusable}; `ran` is the lease of the run that failed.
local function add_failed(q, now, entries)
  if #entries == 0 then
    return
  end
  local index = {}
  for _, entry in ipairs(entries) do
    local key = job_key(entry[1])
    redis.call('HSET', key, 's', 'f', 'f', now, 'err', entry[2], 'tb', entry[3], 'ran', entry[4])
    if entry[5] then
      redis.call('HSET', key, 'u', '1')
    end
    redis.call('HDEL', key, 'l', 'x')
    index[#index + 1] = now
    index[#index + 1] = entry[1]
  end
  call_sliced('ZADD', q.failed_index, index)
end

-- Delete jobs of the failed store for good (their ids come from its index).
local function forget_failed(q, ids)
  call_sliced('ZREM', q.failed_index, ids)
  for _, id in ipairs(ids) do
    delete_record(id)
  end
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

-- Per-minute counts of outcomes, for the dashboard: one small hash per queue and minute of
-- Redis time ({succeeded, failed, retried}), expiring two hours after its minute began.
local STATS_PREFIX = string.sub(KEY.schema, 1, -7) .. 'stats:'
local STATS_TTL_MS = 2 * 3600 * 1000

local function count_outcomes(now, succeeded, failed, retried)
  local key = STATS_PREFIX .. math.floor(now / 60000)
  local created = false
  for field, count in pairs({s = succeeded, f = failed, r = retried}) do
    if count > 0 and redis.call('HINCRBY', key, field, count) == count then
      created = true
    end
  end
  if created then
    redis.call('PEXPIRE', key, STATS_TTL_MS)
  end
end
