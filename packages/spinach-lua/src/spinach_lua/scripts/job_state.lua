--[[
Read what a queue knows of one job, read-only: its record, or its finished record.

KEYS
  delayed     ZSET    ids of jobs waiting for their due time (score: due ms)
  done        HASH    id -> record of a finished job
  jobs        HASH    id -> record of the job (see the record include)

ARGV
  id          the job's id

REPLY
  kind        'job' (it has a record: waiting, queued, running or in the failed store),
              'done' (succeeded or cancelled), or 'none'
  record      the job's record (false unless 'job'; see the record include)
  due_ms      when a waiting job is due (-1: it is not in the delayed set)
  done_record the finished record (false unless 'done')
]]

local record = redis.call('HGET', KEY.jobs, ARG.id)
if record then
  local due = tonumber(redis.call('ZSCORE', KEY.delayed, ARG.id)) or -1
  return reply{kind = 'job', record = record, due_ms = due, done_record = false}
end
local done = redis.call('HGET', KEY.done, ARG.id)
if done then
  return reply{kind = 'done', record = false, due_ms = -1, done_record = done}
end
return reply{kind = 'none', record = false, due_ms = -1, done_record = false}
