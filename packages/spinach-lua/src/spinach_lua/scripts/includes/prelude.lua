-- Shared helpers, flattened into every script at load time.

-- Redis server time in milliseconds: the one clock every host agrees on.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Refuse to touch data written by another schema. The first call on a fresh queue records ours.
-- Returns nil when the schema matches, or the error reply {-1, stored_version}.
local function schema_error(key, version)
  local stored = redis.call('GET', key)
  if stored == false then
    redis.call('SET', key, version)
    return nil
  end
  if stored ~= version then
    return {-1, stored}
  end
  return nil
end

-- Lua's unpack() is limited by the C stack, so variadic commands are sent in slices.
local SLICE = 1000

local function call_sliced(command, key, items)
  for first = 1, #items, SLICE do
    local last = math.min(first + SLICE - 1, #items)
    redis.call(command, key, unpack(items, first, last))
  end
end

-- HMGET of any number of fields, in slices; returns one flat table in the order of `fields`.
local function hmget_sliced(key, fields)
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

-- Take back the jobs of `running` whose lease expired: their worker died, hung or lost Redis.
-- keys: running, leases, budget, retries, jobs, ready, wake.
-- A job with retries left (its `budget` entry) goes back to the ready list, the lost run counted
-- as an attempt; any other job (at most once, or out of retries) is deleted and returned so
-- that the caller reports it failed. Returns {failed_ids, failed_payloads, failed_retries}.
local function recover_expired(keys, now, limit)
  local expired = redis.call('ZRANGEBYSCORE', keys.running, '-inf', now, 'LIMIT', 0, limit)
  local failed_ids, failed_payloads, failed_retries = {}, {}, {}
  local requeued = {}
  for _, id in ipairs(expired) do
    redis.call('ZREM', keys.running, id)
    redis.call('HDEL', keys.leases, id)
    local budget = tonumber(redis.call('HGET', keys.budget, id))
    local retries = tonumber(redis.call('HGET', keys.retries, id)) or 0
    if budget and (budget < 0 or retries < budget) then
      redis.call('HSET', keys.retries, id, retries + 1)
      requeued[#requeued + 1] = id
    else
      failed_ids[#failed_ids + 1] = id
      failed_payloads[#failed_payloads + 1] = redis.call('HGET', keys.jobs, id)
      failed_retries[#failed_retries + 1] = retries
      redis.call('HDEL', keys.jobs, id)
      redis.call('HDEL', keys.retries, id)
      redis.call('HDEL', keys.budget, id)
    end
  end
  if #requeued > 0 then
    call_sliced('RPUSH', keys.ready, requeued)
    ensure_wake_token(keys.wake)
  end
  return {failed_ids, failed_payloads, failed_retries}
end
