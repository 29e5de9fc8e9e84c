-- Finished-job records and the failed-job store. Needs the prelude.
--
-- A record is a JSON array, positional to stay small (200,000 of them fit in a few tens of MB):
--   [state, task, attempts, created_ms, started_ms, finished_ms, worker, error, max_retries]
-- state: 's' succeeded, 'f' failed, 'c' cancelled; "" and 0 mean unknown. Times are Redis's.
--
-- The queue description `q` the helpers take: q.done (HASH id -> record), q.done_index (LIST of
-- "<finished ms>:<id>", oldest first), q.failed (HASH id -> record), q.failed_jobs (HASH id ->
-- envelope, to run it again), q.failed_index (ZSET id -> failed ms).

-- The value of a lease is "<fencing sequence>:<started ms>:<worker id>": a worker only ever
-- compares it whole, so it also tells who runs the job, and since when.
local function make_lease(sequence, now, worker)
  return sequence .. ':' .. now .. ':' .. worker
end

-- (started ms, worker id) of a lease value, or (0, "") when it has neither.
local function lease_parts(value)
  if not value then
    return 0, ''
  end
  local started, worker = string.match(value, '^%d+:(%d+):(.*)$')
  if not started then
    return 0, ''
  end
  return tonumber(started), worker
end

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

-- A record, built by concatenation: cjson on a whole table per job would cost more than the
-- rest of the bookkeeping. Numbers are integers of ms (Lua prints them exactly below 1e14).
local function make_record(state, task, attempts, created, started, finished, worker, error, budget)
  return '["' .. state .. '",' .. json_text(task or '') .. ',' .. attempts .. ','
    .. (tonumber(created) or 0) .. ',' .. started .. ',' .. finished .. ',' .. json_text(worker)
    .. ',' .. (error == '' and '""' or cjson.encode(error)) .. ',' .. (tonumber(budget) or 0)
    .. ']'
end

-- Drop finished records older than `cutoff` (ms) or beyond the newest `max_count`, at most
-- `budget` of them per call; the common case (nothing to drop) costs one LINDEX.
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

-- Remove jobs from the failed store (no-op for ids it does not hold).
local function forget_failed(q, ids)
  call_sliced('ZREM', q.failed_index, ids)
  call_sliced('HDEL', q.failed, ids)
  call_sliced('HDEL', q.failed_jobs, ids)
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

-- Keep failed jobs: `entries` is a list of {id, record, envelope or false}.
local function add_failed(q, now, entries)
  if #entries == 0 then
    return
  end
  local fields, envelopes, index = {}, {}, {}
  for _, entry in ipairs(entries) do
    fields[#fields + 1] = entry[1]
    fields[#fields + 1] = entry[2]
    if entry[3] then
      envelopes[#envelopes + 1] = entry[1]
      envelopes[#envelopes + 1] = entry[3]
    end
    index[#index + 1] = now
    index[#index + 1] = entry[1]
  end
  call_sliced('HSET', q.failed, fields)
  call_sliced('HSET', q.failed_jobs, envelopes)
  call_sliced('ZADD', q.failed_index, index)
end
