--[[
Cancel a job that has not started: it is removed at once and never runs.

KEYS[1] schema      STRING  schema version of this queue's data
KEYS[2] jobs        HASH    id -> encoded job envelope
KEYS[3] delayed     ZSET    ids of jobs waiting for their due time (score: due ms)
KEYS[4] leases      HASH    id -> lease of a fetched job
KEYS[5] tasks       HASH    id -> task name
KEYS[6] budget      HASH    id -> max_retries of jobs that may run again
KEYS[7] retries     HASH    id -> number of retries already scheduled
KEYS[8] created     HASH    id -> when the job was enqueued (ms)
KEYS[9] abandoned   HASH    id -> 1 for jobs whose worker died and that may not run again
KEYS[10] cancelled  SET     ids cancelled while in the ready or a parked list
KEYS[11] done       HASH    id -> record of a finished job
KEYS[12] done_index LIST    "<finished ms>:<id>" of finished jobs, oldest first
KEYS[13] failed     HASH    id -> record of a job that failed for good
KEYS[14] errors     HASH    id -> error of the last failed run of a job waiting for its retry

ARGV[1]             schema version expected by the caller
ARGV[2]             the job's id
ARGV[3]             how long finished records are kept, in ms (0: none is written)
ARGV[4]             most finished records kept

A waiting job leaves the delayed set. A queued job cannot leave its list without a scan of the
list, so its data is deleted and its id marked: the fetch that pops it drops it.

Returns {0, outcome}: outcome is 'cancelled', 'running' (a worker holds it: nothing done),
        'finished' (it already succeeded, failed or was cancelled, or its worker died running
        it and it waits to be reported failed) or 'unknown'
        {-1, stored}        schema mismatch: nothing done
]]
--- @include "prelude"
--- @include "records"
--- @include "schema_guard"

local id = ARGV[2]
if redis.call('HEXISTS', KEYS[4], id) == 1 then
  return {0, 'running'}
end
if redis.call('HEXISTS', KEYS[9], id) == 1 then
  return {0, 'finished'}  -- its worker died running it: it is being reported failed
end
if redis.call('HEXISTS', KEYS[2], id) == 0 then
  if redis.call('HEXISTS', KEYS[11], id) == 1 or redis.call('HEXISTS', KEYS[13], id) == 1 then
    return {0, 'finished'}
  end
  return {0, 'unknown'}
end

local now = now_ms()
if redis.call('ZREM', KEYS[3], id) == 0 then
  redis.call('SADD', KEYS[10], id)
end
local task = redis.call('HGET', KEYS[5], id)
local retries = tonumber(redis.call('HGET', KEYS[7], id)) or 0
local created = redis.call('HGET', KEYS[8], id)
for k = 5, 9 do
  redis.call('HDEL', KEYS[k], id)
end
redis.call('HDEL', KEYS[2], id)
redis.call('HDEL', KEYS[14], id)

local keep_done = tonumber(ARGV[3])
if keep_done > 0 then
  local q = {done = KEYS[11], done_index = KEYS[12]}
  add_done(q, now, {{id, make_record('c', task, retries, created, 0, now, '', '', 0)}})
  trim_done(q, now - keep_done, tonumber(ARGV[4]), 100)
end
return {0, 'cancelled'}
