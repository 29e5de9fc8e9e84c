--[[
Create the job of every periodic task whose tick is due: exactly one job per tick, whoever asks.

Claiming a tick moves the task's next due time forward in the same atomic call, so workers
racing for a tick create one job. After downtime the task runs once, not once per missed tick:
the next tick is one period after the due one, or one period from now if that is past already.
A task no live worker vouches for does not tick (its schedule is kept for a day, then dropped).

KEYS
  periodic    ZSET    task -> next due time of its tick (ms, Redis time)
  periodic_every  HASH  task -> period in ms
  periodic_alive  ZSET  task -> until when a live worker vouches for it (ms)
  ready       LIST    ids of jobs ready to run
  wake        LIST    wake-up token for idle workers of this queue
  jobs        HASH    id -> record of the job (see the record include)

ARGV
  candidates*4  one group of four per periodic task the caller knows:
              task, id, max_retries, payload (the job to create if the task is due)

REPLY
  created     how many jobs were created
  next_due_ms ms until the earliest tick (-1: none)
]]
--- @include "prelude"
--- @include "record"

local now = now_ms()

-- Forget the tasks no live worker has vouched for in a day (each deployment vouches for its own).
-- A task whose workers are away for less keeps its schedule, and runs once when they return.
local orphans = redis.call('ZRANGEBYSCORE', KEY.periodic_alive, '-inf', now - 86400000, 'LIMIT', 0, 100)
if #orphans > 0 then
  call_sliced('ZREM', KEY.periodic, orphans)
  call_sliced('HDEL', KEY.periodic_every, orphans)
  call_sliced('ZREM', KEY.periodic_alive, orphans)
end

local q = {jobs = KEY.jobs}
local created = {}
for i = ARG.candidates, ARG.candidates + ARG.candidates_n - 1, 4 do
  local task, id = ARGV[i], ARGV[i + 1]
  local due = tonumber(redis.call('ZSCORE', KEY.periodic, task))
  local alive = tonumber(redis.call('ZSCORE', KEY.periodic_alive, task))
  if due and due <= now and alive and alive > now then
    local period = tonumber(redis.call('HGET', KEY.periodic_every, task))
    local next_tick = due + period
    if next_tick <= now then
      next_tick = now + period
    end
    redis.call('ZADD', KEY.periodic, next_tick, task)
    local budget = ARGV[i + 2] ~= '0' and ARGV[i + 2] or nil
    if create_record(q, id, {t = task, c = now_text(), b = budget, e = ARGV[i + 3]}) then
      created[#created + 1] = id
    end
  end
end
if #created > 0 then
  call_sliced('RPUSH', KEY.ready, created)
  ensure_wake_token(KEY.wake)
end
return reply{created = #created, next_due_ms = ms_until_earliest(KEY.periodic, now)}
