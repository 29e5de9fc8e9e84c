--[[
Pause a queue, or resume it (an operator's decision, kept in Redis across worker restarts).

While a queue is paused its workers start none of its jobs: a fetch still records outcomes,
promotes due jobs and takes back expired leases, so running jobs finish and nothing is lost.
Resuming wakes one idle worker, which passes the wake-up on while work is left.

KEYS
  paused      STRING  "1" while the queue is paused
  wake        LIST    wake-up token for idle workers of this queue

ARGV
  action      'pause', 'resume', or 'read' (change nothing)

REPLY
  changed     1 if the queue's state changed, else 0
  paused      1 if the queue is paused now, else 0
]]
--- @include "prelude"

local was = redis.call('GET', KEY.paused) and 1 or 0
if ARG.action == 'pause' then
  redis.call('SET', KEY.paused, '1')
  return reply{changed = 1 - was, paused = 1}
elseif ARG.action == 'resume' then
  if was == 1 then
    redis.call('DEL', KEY.paused)
    ensure_wake_token(KEY.wake)
  end
  return reply{changed = was, paused = 0}
end
return reply{changed = 0, paused = was}
