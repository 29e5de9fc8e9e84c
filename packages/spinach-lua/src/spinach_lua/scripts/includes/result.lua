-- Stored results: what a job that opted in (its record's `rt`, the result's lifetime in ms)
-- ended with, kept for that long. Needs the prelude; q.results.
--
-- Each result is a LIST key of its own, named after the queue's `results` key:
-- "<results>:<id>", so it shares the queue's hash tag (one cluster slot, the namespace's ACL
-- pattern). It holds one value: 's' and the return value's JSON, 'f' and "Type: message\3
-- traceback" of a final failure, or 'c' for a cancelled job. A list, so that a client can wait
-- for it without polling: BLMOVE from the key to itself returns the value once it is pushed
-- and leaves it there for the next reader. The key expires by itself; the `results` ZSET
-- (id -> when it expires, ms) bounds how many a queue keeps: beyond `max_results`, the
-- results closest to expiry go first.

local function result_key(q, id)
  return q.results .. ':' .. id
end

-- Keep `value` as the result of `id` for `ttl_ms`.
local function store_result(q, now, id, value, ttl_ms, max_results)
  local key = result_key(q, id)
  redis.call('DEL', key)
  redis.call('RPUSH', key, value)
  redis.call('PEXPIRE', key, ttl_ms)
  redis.call('ZADD', q.results, now + ttl_ms, id)
  local excess = redis.call('ZCARD', q.results) - max_results
  if excess > 0 then
    local dropped = redis.call('ZPOPMIN', q.results, excess)
    for n = 1, #dropped, 2 do
      redis.call('DEL', result_key(q, dropped[n]))
    end
  end
end

-- Forget the result of `id` (it runs again: a waiter must wait for the new run).
local function forget_result(q, id)
  redis.call('DEL', result_key(q, id))
  redis.call('ZREM', q.results, id)
end

-- Drop the results beyond `max_results` (closest to expiry first) and the index entries of
-- those that expired, at most `budget` of each; return how many.
local function expire_results(q, now, budget, max_results)
  local excess = math.min(budget, redis.call('ZCARD', q.results) - max_results)
  local dropped = 0
  if excess > 0 then
    local oldest = redis.call('ZPOPMIN', q.results, excess)
    for n = 1, #oldest, 2 do
      redis.call('DEL', result_key(q, oldest[n]))
    end
    dropped = #oldest / 2
  end
  local expired = redis.call('ZRANGEBYSCORE', q.results, '-inf', now, 'LIMIT', 0, budget)
  call_sliced('ZREM', q.results, expired)
  return dropped + #expired
end
