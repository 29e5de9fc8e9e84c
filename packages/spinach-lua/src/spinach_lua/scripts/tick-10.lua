--[[
Create the job of every periodic task whose tick is due: exactly one job per tick, whoever asks.

KEYS[1] schema      STRING  schema version of this queue's data
KEYS[2] periodic    ZSET    task -> next due time of its tick (ms, Redis time)
KEYS[3] every       HASH    task -> period in ms
KEYS[4] alive       ZSET    task -> until when a live worker vouches for it (ms)
KEYS[5] ready       LIST    ids of jobs ready to run
KEYS[6] jobs        HASH    id -> encoded job envelope
KEYS[7] wake        LIST    wake-up token for idle workers of this queue
KEYS[8] budget      HASH    id -> max_retries of jobs that may run again
KEYS[9] tasks       HASH    id -> task name
KEYS[10] created    HASH    id -> when the job was enqueued (ms)

ARGV[1]             schema version expected by the caller
ARGV[2..]           one group of four per periodic task the caller knows:
                      task, id, max_retries, payload (the job to create if the task is due)

Claiming a tick moves the task's next due time forward in the same atomic call, so workers
racing for a tick create one job. After downtime the task runs once, not once per missed tick:
the next tick is one period after the due one, or one period from now if that is past already.
A task no live worker vouches for does not tick (its schedule is kept for a day, then dropped).

Returns {0, created, next_due_in_ms}: next_due_in_ms is the time to the earliest tick, -1 if
none.
        {-1, stored}        schema mismatch: nothing done
]]
--- @include "prelude"
--- @include "schema_guard"

local now = now_ms()

-- Forget the tasks no live worker has vouched for in a day (each deployment vouches for its own).
-- A task whose workers are away for less keeps its schedule, and runs once when they return.
local orphans = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now - 86400000, 'LIMIT', 0, 100)
if #orphans > 0 then
  call_sliced('ZREM', KEYS[2], orphans)
  call_sliced('HDEL', KEYS[3], orphans)
  call_sliced('ZREM', KEYS[4], orphans)
end

local created = {}
for i = 2, #ARGV, 4 do
  local task = ARGV[i]
  local due = tonumber(redis.call('ZSCORE', KEYS[2], task))
  local alive = tonumber(redis.call('ZSCORE', KEYS[4], task))
  if due and due <= now and alive and alive > now then
    local period = tonumber(redis.call('HGET', KEYS[3], task))
    local next_tick = due + period
    if next_tick <= now then
      next_tick = now + period
    end
    redis.call('ZADD', KEYS[2], next_tick, task)
    local id = ARGV[i + 1]
    if redis.call('HSETNX', KEYS[6], id, ARGV[i + 3]) == 1 then
      created[#created + 1] = id
      redis.call('HSET', KEYS[9], id, task)
      redis.call('HSET', KEYS[10], id, now)
      if ARGV[i + 2] ~= '0' then
        redis.call('HSET', KEYS[8], id, ARGV[i + 2])
      end
    end
  end
end
if #created > 0 then
  call_sliced('RPUSH', KEYS[5], created)
  ensure_wake_token(KEYS[7])
end

return {0, #created, ms_until_earliest(KEYS[2], now)}
