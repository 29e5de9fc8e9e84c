--[[
Read what a queue knows of one job, read-only: its record, or its finished record.

KEYS
  schema      STRING  schema version of this queue's data
  delayed     ZSET    ids of jobs waiting for their due time (score: due ms)
  done        HASH    id -> record of a finished job

ARGV
  version     schema version expected by the caller
  id          the job's id

REPLY
  kind        'job' (it has a record: waiting, queued, running or in the failed store),
              'done' (succeeded or cancelled), or 'none'
  fields      the job's record as field, value, field, value... (empty unless 'job')
  due_ms      when a waiting job is due (-1: it is not in the delayed set)
  done_record the finished record (false unless 'done')
]]
--- @include "prelude"
--- @include "record"
--- @include "schema_peek"

local fields = redis.call('HGETALL', job_key(ARG.id))
if #fields > 0 then
  local due = tonumber(redis.call('ZSCORE', KEY.delayed, ARG.id)) or -1
  return reply{kind = 'job', fields = fields, due_ms = due, done_record = false}
end
local done = redis.call('HGET', KEY.done, ARG.id)
if done then
  return reply{kind = 'done', fields = {}, due_ms = -1, done_record = done}
end
return reply{kind = 'none', fields = {}, due_ms = -1, done_record = false}
