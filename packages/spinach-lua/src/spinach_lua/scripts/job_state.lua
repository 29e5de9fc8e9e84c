--[[
Read what a queue knows of one job, read-only: its record, or its finished record.

KEYS
  schema      STRING  schema version of this queue's data
  delayed     ZSET    ids of jobs waiting for their due time (score: due ms)
  done        HASH    id -> record of a finished job
  jobs        HASH    id -> envelope (see the record include)
  state       HASH    id -> packed state of the job (see the record include)

ARGV
  version     schema version expected by the caller
  id          the job's id

REPLY
  kind        'job' (it has a record: waiting, queued, running or in the failed store),
              'done' (succeeded or cancelled), or 'none'
  state       the job's packed state (false unless 'job')
  envelope    the job's envelope (false unless 'job', or if it has none)
  due_ms      when a waiting job is due (-1: it is not in the delayed set)
  done_record the finished record (false unless 'done')
]]
--- @include "schema_peek"

local state = redis.call('HGET', KEY.state, ARG.id)
if state then
  local due = tonumber(redis.call('ZSCORE', KEY.delayed, ARG.id)) or -1
  local envelope = redis.call('HGET', KEY.jobs, ARG.id)
  return reply{kind = 'job', state = state, envelope = envelope, due_ms = due, done_record = false}
end
local done = redis.call('HGET', KEY.done, ARG.id)
if done then
  return reply{kind = 'done', state = false, envelope = false, due_ms = -1, done_record = done}
end
return reply{kind = 'none', state = false, envelope = false, due_ms = -1, done_record = false}
