--[[
Vouch for a live worker of a queue (its heartbeat), or remove it when it stops.

KEYS[1] schema      STRING  schema version of this queue's data
KEYS[2] workers     ZSET    worker id -> until when it is considered alive (ms, Redis time)
KEYS[3] info        HASH    worker id -> what the worker says about itself (JSON from Python)

ARGV[1]             schema version expected by the caller
ARGV[2]             worker id
ARGV[3]             how long the registration lasts without renewal, in ms; 0 removes it
ARGV[4]             the worker's description

Registrations of workers gone silent are removed here too, so the registry never grows with
the number of workers that ever lived.

Returns {0, live}: how many workers of the queue are alive now.
        {-1, stored}        schema mismatch: nothing done
]]
--- @include "prelude"
--- @include "schema_guard"

local now = now_ms()
local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 100)
if #gone > 0 then
  call_sliced('ZREM', KEYS[2], gone)
  call_sliced('HDEL', KEYS[3], gone)
end
if tonumber(ARGV[3]) > 0 then
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[2])
  redis.call('HSET', KEYS[3], ARGV[2], ARGV[4])
else
  redis.call('ZREM', KEYS[2], ARGV[2])
  redis.call('HDEL', KEYS[3], ARGV[2])
end
return {0, redis.call('ZCARD', KEYS[2])}
