--[[
Register the periodic tasks a live worker knows, keeping their schedule.

A new task is first due one period from now (as in Spinach 0.0.25); a known one keeps its next
due time (or gets one period from now, if that comes earlier, when its period changed).
Registrations of other deployments are never touched: a task stops ticking only when no live
worker renews it, or when removed explicitly.

KEYS
  periodic    ZSET    task -> next due time of its tick (ms, Redis time)
  periodic_every  HASH  task -> period in ms
  periodic_alive  ZSET  task -> until when a live worker vouches for it (ms)
  periodic_paused  SET  tasks an operator removed: not registered again until resumed

ARGV
  alive_ms    how long this registration lasts without renewal, in ms
  tasks*2     one pair per periodic task: name, period_ms

REPLY
  next_due_ms ms until the earliest tick of a live task (-1: none)
]]
--- @include "prelude"

local now = now_ms()
local alive_until = now + tonumber(ARG.alive_ms)
for i = ARG.tasks, ARG.tasks + ARG.tasks_n - 1, 2 do
  local task, period = ARGV[i], ARGV[i + 1]
  if redis.call('SISMEMBER', KEY.periodic_paused, task) == 0 then
    if redis.call('HGET', KEY.periodic_every, task) ~= period then
      -- A new task, or a new period (a rolling deploy may declare both periods for a while):
      -- keep an earlier due time, so that alternating registrations never postpone the tick.
      redis.call('HSET', KEY.periodic_every, task, period)
      redis.call('ZADD', KEY.periodic, 'LT', now + tonumber(period), task)
    else
      redis.call('ZADD', KEY.periodic, 'NX', now + tonumber(period), task)
    end
    redis.call('ZADD', KEY.periodic_alive, alive_until, task)
  end
end
return reply{next_due_ms = ms_until_earliest(KEY.periodic, now)}
