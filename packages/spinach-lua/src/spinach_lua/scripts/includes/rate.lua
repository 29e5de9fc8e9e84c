-- Rate limits, by GCRA (the generic cell rate algorithm). Needs the prelude and the record
-- include; q.rates names the sorted set:
--   rates   ZSET  "<task>\0<rate key>" -> the earliest time (ms, Redis time) the next job of
--                 that task and key may start; a member past its time says nothing, and is
--                 dropped by the housekeeper
--
-- A rate-limited job carries `rl`, "<interval ms>\3<rate key>", in its record; the \3 byte
-- appears nowhere else in a record (JSON escapes control characters), so one search tells the
-- hot path whether a job is limited. A fetch that meets a limited job before its time gives it
-- the next free start time (`rs` in its record) and moves it to the delayed set until then: no
-- worker polls, no fetch meets it twice, and the jobs behind it start at once. Nothing is held
-- while a job runs, so a dying worker leaves nothing behind: a start, once counted, stays
-- counted.

local function rate_limited(raw)
  return string.find(raw, '\3', 1, true) ~= nil
end

-- When a limited job met by a fetch at `now` may start: nil for now (its start is counted),
-- else the time it is given, counted already. A job given its time before starts when met.
local function rate_turn(q, raw, now)
  if field_of(raw, 14) then  -- rs: it waited for the time it was given
    return nil
  end
  local interval, key = string.match(field_of(raw, 13) or '', '^([^\3]*)\3(.*)$')
  interval = tonumber(interval)
  if not interval then
    return nil
  end
  local member = (task_of(raw) or '') .. '\0' .. key
  local start = math.max(tonumber(redis.call('ZSCORE', q.rates, member)) or now, now)
  redis.call('ZADD', q.rates, start + interval, member)
  if start <= now then
    return nil
  end
  return math.ceil(start)
end

-- The record of a limited job without the time it was given (so that a retry is counted again).
local function without_turn(raw)
  if not field_of(raw, 14) then
    return raw
  end
  local record = unpack_record(raw)
  record.rs = nil
  return pack_record(record)
end

-- Drop the members of the rates set whose time has passed: they limit nothing any more.
local function expire_rates(q, now, budget)
  local stale = redis.call('ZRANGEBYSCORE', q.rates, '-inf', now, 'LIMIT', 0, budget)
  call_sliced('ZREM', q.rates, stale)
  return #stale
end
