--[[
Make a waiting job ready now, ahead of the queue (an operator's "run now").

A job of a task at its limit is parked by the next fetch, as any ready job.

KEYS
  delayed     ZSET    ids of jobs waiting for their due time (score: due ms)
  ready       LIST    ids of jobs ready to run, oldest first
  wake        LIST    wake-up token for idle workers of this queue

ARGV
  id          the job's id

REPLY
  moved       1 if the job was waiting and is ready now, 0 if it was not waiting
]]
--- @include "prelude"

if redis.call('ZREM', KEY.delayed, ARG.id) == 0 then
  return reply{moved = 0}
end
redis.call('LPUSH', KEY.ready, ARG.id)
ensure_wake_token(KEY.wake)
return reply{moved = 1}
