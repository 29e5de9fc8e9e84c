-- Shared helpers, flattened into every script at load time.

-- Redis server time in milliseconds: the one clock every host agrees on. The same time as text
-- is kept for now_text(): Lua turns a number into text with printf, which costs more than the
-- rest of a job's bookkeeping, so the hot path writes times as the text TIME gave.
local now_cache = nil
local function now_ms()
  local t = redis.call('TIME')
  local micros = t[2]
  now_cache = t[1] .. string.sub(string.rep('0', 6 - #micros) .. micros, 1, 3)
  return tonumber(now_cache)
end

-- The time of the last now_ms() as text.
local function now_text()
  return now_cache
end

-- Lua's unpack() is limited by the C stack, so variadic commands are sent in slices.
local SLICE = 1000

local function call_sliced(command, key, items)
  for first = 1, #items, SLICE do
    redis.call(command, key, unpack(items, first, math.min(first + SLICE - 1, #items)))
  end
end

-- HMGET of any number of fields, in slices; returns one flat table in the order of `fields`.
local function hmget_sliced(key, fields)
  if #fields <= SLICE then
    return #fields > 0 and redis.call('HMGET', key, unpack(fields)) or {}
  end
  local values = {}
  for first = 1, #fields, SLICE do
    local found = redis.call('HMGET', key, unpack(fields, first, math.min(first + SLICE - 1, #fields)))
    for n = 1, #found do
      values[first + n - 1] = found[n]
    end
  end
  return values
end

-- Make sure one wake-up token is waiting for the queue's idle workers. Idle workers block on
-- this list, so one enqueue wakes one worker of this queue and no worker of any other queue.
local function ensure_wake_token(key)
  if redis.call('LLEN', key) == 0 then
    redis.call('RPUSH', key, '1')
  end
end

-- Lowest score of a sorted set (the earliest due time or lease deadline), or nil when empty.
local function earliest_due(key)
  local head = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if #head == 0 then
    return nil
  end
  return tonumber(head[2])
end

-- Milliseconds from `now` to the lowest score of a sorted set (0 when past), -1 when empty.
local function ms_until_earliest(key, now)
  local earliest = earliest_due(key)
  if earliest == nil then
    return -1
  end
  return math.max(0, earliest - now)
end
