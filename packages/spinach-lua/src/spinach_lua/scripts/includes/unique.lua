-- Unique jobs: at most one live job per unique key in a queue. Needs the prelude and the
-- record include; q.unique and q.unique_until name the keys:
--   unique        HASH  unique key -> id of the job that holds it
--   unique_until  ZSET  unique key -> until when (ms) a finished job still holds it (throttling)
--
-- A job's record carries its key (`k`) and rule (`km`: "f" held until the job ends, "s" only
-- until it starts; then "d" if a duplicate replaces its arguments (debounce); then how many ms
-- the key stays held after that, if any). The key is let go by the very script that ends the
-- job (finish, fetch, cancel), so no crash between two steps can leak it; and a key whose
-- holder is no longer live (no record, or failed for good) is free whatever the hash says, so
-- even a key the release missed cannot block sending.

-- Whether a record may carry a unique key: `km`, its last field, is not empty. Cheap enough
-- for the hot path (a search for the envelope's separator); a false "maybe" (an older record
-- whose last field is its traceback) only costs an unpack.
local function may_be_unique(raw)
  local split = string.find(raw, '\1', 1, true)
  return split ~= nil and split > 1 and string.byte(raw, split - 1) ~= 0
end

-- (release point 'f' or 's', debounce, ms held afterwards) of a record's rule.
local function unique_rule(km)
  local point, debounce, hold = string.match(km or '', '^([fs])(d?)(%d*)$')
  return point, debounce == 'd', tonumber(hold) or 0
end

-- The id of the live job holding `key` (nil when the key is free). A finished holder still
-- holds a throttled key until its time is up.
local function unique_holder(q, key, now)
  local holder = redis.call('HGET', q.unique, key)
  if not holder then
    return nil
  end
  local until_ms = redis.call('ZSCORE', q.unique_until, key)
  if until_ms then
    if tonumber(until_ms) > now then
      return holder
    end
    redis.call('ZREM', q.unique_until, key)  -- its time is up: the key is free
    return nil
  end
  local record = unpack_record(redis.call('HGET', q.jobs, holder))
  if record and record.k == key and record.s ~= 'f' then
    return holder
  end
  return nil
end

-- Give `key` to job `id` (unique_holder found it free, and forgot its throttle if it had one).
local function hold_unique(q, key, id)
  redis.call('HSET', q.unique, key, id)
end

-- Let go of the key of job `id` (its unpacked record) at release point `point` ('s' when it
-- starts, 'f' when it ends, 'c' when it is cancelled: no throttling after a cancel).
local function release_unique(q, id, record, point, now)
  local key = record and record.k
  if not key then
    return
  end
  local at, _, hold = unique_rule(record.km)
  if point ~= 'c' and at ~= point then
    return  -- held on until the job ends ('f'), or let go when it started ('s')
  end
  if redis.call('HGET', q.unique, key) ~= id then
    return  -- let go already, or another job holds it
  end
  if hold > 0 and point ~= 'c' then
    redis.call('ZADD', q.unique_until, now + hold, key)
  else
    redis.call('HDEL', q.unique, key)
    if point == 'c' then
      -- A job let go of at its start with a hold, then handed back unstarted, may be
      -- cancelled under its own throttle. Otherwise a key is in unique_until only once its
      -- holder let go of it with a hold, at its one release point: nothing to remove.
      redis.call('ZREM', q.unique_until, key)
    end
  end
end

-- Forget the throttled keys whose time is up (at most `budget` of them).
local function expire_unique(q, now, budget)
  local over = redis.call('ZRANGEBYSCORE', q.unique_until, '-inf', now, 'LIMIT', 0, budget)
  if #over > 0 then
    redis.call('ZREM', q.unique_until, unpack(over))
    redis.call('HDEL', q.unique, unpack(over))
  end
  return #over
end
