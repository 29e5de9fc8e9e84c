--[[
Read what a queue knows of one job, read-only: its record, or its finished record.

KEYS
  delayed     ZSET    ids of jobs waiting for their due time (score: due ms)
  done        HASH    id -> record of a finished job
  jobs        HASH    id -> record of the job (see the record include)
  control     HASH    an operator's decisions: paused, max_running (see fetch)
  running     ZSET    ids of fetched jobs (score: lease deadline ms)
  limits      HASH    task -> how many of its jobs may run at once
  limited_running  ZSET  "<task>\0<id>" of running jobs of limited tasks
  results     ZSET    id -> when its stored result expires (ms); each result is the LIST
                      "<results>:<id>" (see the result include)

ARGV
  id          the job's id

REPLY
  kind        'job' (it has a record: waiting, queued, running or in the failed store),
              'done' (succeeded or cancelled), or 'none'
  record      the job's record (false unless 'job'; see the record include)
  due_ms      when a waiting job is due (-1: it is not in the delayed set)
  done_record the finished record (false unless 'done')
  held        for a job ready to run that cannot start now, why: 'paused' (its queue is
              paused), 'queue_limit' (its queue runs max_running jobs), 'task_limit' (its task
              runs as many jobs as its limit allows); for a waiting job given its start time by
              its task's rate limit, 'rate_limit'; else ''
  result      its stored result (see the result include), or false
]]
--- @include "prelude"
--- @include "control"
--- @include "record"
--- @include "lease"
--- @include "ready"
--- @include "limits"
--- @include "result"

-- Why a ready job cannot start now ('' when it can).
local function held_by(raw)
  local paused, max_running = read_control(KEY.control)
  if paused then
    return 'paused'
  end
  if max_running and redis.call('ZCARD', KEY.running) >= max_running then
    return 'queue_limit'
  end
  local task = task_of(raw)
  local limit = task and tonumber(redis.call('HGET', KEY.limits, task))
  if limit and running_of({limited_running = KEY.limited_running}, task) >= limit then
    return 'task_limit'
  end
  return ''
end

local result = redis.call('LINDEX', result_key({results = KEY.results}, ARG.id), 0)
local record = redis.call('HGET', KEY.jobs, ARG.id)
if record then
  local due = tonumber(redis.call('ZSCORE', KEY.delayed, ARG.id)) or -1
  local held = ''
  local fields = unpack_record(record)
  if due < 0 and not fields.l and not fields.s and not fields.x and not fields.h then
    held = held_by(record)
  elseif due >= 0 and fields.rs then
    held = 'rate_limit'
  end
  return reply{kind = 'job', record = record, due_ms = due, done_record = false, held = held, result = result}
end
local done = redis.call('HGET', KEY.done, ARG.id)
if done then
  return reply{kind = 'done', record = false, due_ms = -1, done_record = done, held = '', result = result}
end
return reply{kind = 'none', record = false, due_ms = -1, done_record = false, held = '', result = result}
