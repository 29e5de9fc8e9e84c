--[[
Make a waiting job ready now, ahead of the queue (of its priority: an operator's "run now").

A job of a task at its limit is parked by the next fetch, as any ready job.

KEYS
  delayed     ZSET    ids of jobs waiting for their due time (score: due ms)
  ready       LIST    ids of jobs ready to run, oldest first
  ranked      ZSET    ids of ready jobs of another priority than 0 (see the ready include)
  ranked_seq  STRING  last sequence number of the ranked set
  jobs        HASH    id -> record of the job (see the record include)
  wake        LIST    wake-up token for idle workers of this queue

ARGV
  id          the job's id

REPLY
  moved       1 if the job was waiting and is ready now, 0 if it was not waiting
]]
--- @include "prelude"
--- @include "record"
--- @include "ready"

if redis.call('ZREM', KEY.delayed, ARG.id) == 0 then
  return reply{moved = 0}
end
local q = {ready = KEY.ready, ranked = KEY.ranked, ranked_seq = KEY.ranked_seq, jobs = KEY.jobs}
local raw = read_raw(q, {ARG.id})[1]
push_ready(q, {ARG.id}, {raw and priority_of(raw) or 0}, true)
ensure_wake_token(KEY.wake)
return reply{moved = 1}
