--[[
Vouch for a live worker of a queue (its heartbeat), or remove it when it stops.

Registrations of workers gone silent are removed here too, so the registry never grows with
the number of workers that ever lived.

KEYS
  workers     ZSET    worker id -> until when it is considered alive (ms, Redis time)
  workers_info  HASH  worker id -> what the worker says about itself (JSON from Python)

ARGV
  worker      worker id
  alive_ms    how long the registration lasts without renewal, in ms; 0 removes it
  info        the worker's description

REPLY
  live        how many workers of the queue are alive now
]]
--- @include "prelude"

local now = now_ms()
local gone = redis.call('ZRANGEBYSCORE', KEY.workers, '-inf', now, 'LIMIT', 0, 100)
if #gone > 0 then
  call_sliced('ZREM', KEY.workers, gone)
  call_sliced('HDEL', KEY.workers_info, gone)
end
if tonumber(ARG.alive_ms) > 0 then
  redis.call('ZADD', KEY.workers, now + tonumber(ARG.alive_ms), ARG.worker)
  redis.call('HSET', KEY.workers_info, ARG.worker, ARG.info)
else
  redis.call('ZREM', KEY.workers, ARG.worker)
  redis.call('HDEL', KEY.workers_info, ARG.worker)
end
return reply{live = redis.call('ZCARD', KEY.workers)}
