--[[
Pause or resume a queue, or set how many of its jobs may run at once across every worker (an
operator's decisions, kept in Redis across worker restarts).

While a queue is paused its workers start none of its jobs; at its limit they start none until
a running job ends. A fetch still records outcomes, promotes due jobs and takes back expired
leases, so running jobs finish and nothing is lost. Resuming, or raising or lifting the limit,
wakes one idle worker, which passes the wake-up on while work is left.

KEYS
  control     HASH    paused: "1" while the queue is paused; max_running: its limit, if any
  wake        LIST    wake-up token for idle workers of this queue

ARGV
  action      'pause', 'resume', 'limit' (set max_running; 0 lifts it), or 'read'
  limit       the new limit, for 'limit'

REPLY
  changed     1 if the queue's state changed, else 0
  paused      1 if the queue is paused now, else 0
  max_running its limit before this call (-1: none)
]]
--- @include "prelude"
--- @include "control"

local was_paused, limit_before = read_control(KEY.control)
local paused = was_paused and 1 or 0
local before = limit_before or -1
if ARG.action == 'pause' then
  redis.call('HSET', KEY.control, 'paused', '1')
  return reply{changed = 1 - paused, paused = 1, max_running = before}
elseif ARG.action == 'resume' then
  if paused == 1 then
    redis.call('HDEL', KEY.control, 'paused')
    ensure_wake_token(KEY.wake)
  end
  return reply{changed = paused, paused = 0, max_running = before}
elseif ARG.action == 'limit' then
  local limit = tonumber(ARG.limit)
  if limit > 0 then
    redis.call('HSET', KEY.control, 'max_running', limit)
  else
    redis.call('HDEL', KEY.control, 'max_running')
  end
  if before > 0 and (limit <= 0 or limit > before) then
    ensure_wake_token(KEY.wake)  -- room for more: a waiting job may start now
  end
  local now = limit > 0 and limit or -1
  return reply{changed = now ~= before and 1 or 0, paused = paused, max_running = before}
end
return reply{changed = 0, paused = paused, max_running = before}
