--[[
Register the periodic tasks a live worker knows, keeping their schedule.

KEYS[1] schema      STRING  schema version of this queue's data
KEYS[2] periodic    ZSET    task -> next due time of its tick (ms, Redis time)
KEYS[3] every       HASH    task -> period in ms
KEYS[4] alive       ZSET    task -> until when a live worker vouches for it (ms)
KEYS[5] paused      SET     tasks an operator removed: not registered again until resumed

ARGV[1]             schema version expected by the caller
ARGV[2]             how long this registration lasts without renewal, in ms
ARGV[3..]           one pair per periodic task: name, period_ms

A new task is first due one period from now (as in Spinach 0.0.25); a known one keeps its
next due time (or gets one period from now, if that comes earlier, when its period changed). Registrations of other deployments are never
touched: a task stops ticking only when no live worker renews it, or when removed explicitly.

Returns {0, next_due_in_ms}: the time to the earliest tick of a live task, -1 if none.
        {-1, stored}        schema mismatch: nothing done
]]
--- @include "prelude"
--- @include "schema_guard"

local now = now_ms()
local alive_until = now + tonumber(ARGV[2])
for i = 3, #ARGV, 2 do
  local task, period = ARGV[i], ARGV[i + 1]
  if redis.call('SISMEMBER', KEYS[5], task) == 1 then
    -- removed by an operator: stays out of the schedule
  elseif redis.call('HGET', KEYS[3], task) ~= period then
    -- A new task, or a new period (a rolling deploy may declare both periods for a while):
    -- keep an earlier due time, so that alternating registrations never postpone the tick.
    redis.call('HSET', KEYS[3], task, period)
    redis.call('ZADD', KEYS[2], 'LT', now + tonumber(period), task)
  else
    redis.call('ZADD', KEYS[2], 'NX', now + tonumber(period), task)
  end
  if redis.call('SISMEMBER', KEYS[5], task) == 0 then
    redis.call('ZADD', KEYS[4], alive_until, task)
  end
end
return {0, ms_until_earliest(KEYS[2], now)}
