--[[
Read where one job is, read-only: live (waiting, queued or running), failed, or finished.

KEYS[1] schema      STRING  schema version of this queue's data
KEYS[2] jobs        HASH    id -> encoded job envelope
KEYS[3] delayed     ZSET    ids of jobs waiting for their due time (score: due ms)
KEYS[4] leases      HASH    id -> lease of a fetched job ("<fencing token>:<started ms>:<worker>")
KEYS[5] tasks       HASH    id -> task name
KEYS[6] retries     HASH    id -> number of retries already scheduled
KEYS[7] created     HASH    id -> when the job was enqueued (ms)
KEYS[8] budget      HASH    id -> max_retries of jobs that may run again
KEYS[9] done        HASH    id -> record of a finished job
KEYS[10] failed      HASH    id -> record of a job that failed for good
KEYS[11] failed_jobs HASH   id -> envelope of a job that failed for good
KEYS[12] abandoned  HASH    id -> 1 for jobs whose worker died and that may not run again
KEYS[13] errors     HASH    id -> error of the last failed run of a job waiting for its retry

ARGV[1]             schema version expected by the caller
ARGV[2]             the job's id

Returns {0, 'live', envelope, due_ms (-1: not delayed), started_ms (0: not running, -1:
         running without a recorded start), worker, task, retries, created_ms, max_retries,
         abandoned (0/1), last error ("" if none)}
        {0, 'failed', record, envelope or false}
        {0, 'done', record}
        {0, 'none'}
        {-1, stored}        schema mismatch
]]
--- @include "prelude"
--- @include "records"
--- @include "schema_peek"

local id = ARGV[2]
local envelope = redis.call('HGET', KEYS[2], id)
if envelope then
  local due = tonumber(redis.call('ZSCORE', KEYS[3], id)) or -1
  local started, worker = 0, ''
  local lease = redis.call('HGET', KEYS[4], id)
  if lease then
    started, worker = lease_parts(lease)
    if started == 0 then
      started = -1  -- running under a lease of an older worker: no start time recorded
    end
  end
  return {
    0, 'live', envelope, due, started, worker, redis.call('HGET', KEYS[5], id) or '',
    tonumber(redis.call('HGET', KEYS[6], id)) or 0, tonumber(redis.call('HGET', KEYS[7], id)) or 0,
    tonumber(redis.call('HGET', KEYS[8], id)) or 0, redis.call('HEXISTS', KEYS[12], id),
    redis.call('HGET', KEYS[13], id) or '',
  }
end
local failed = redis.call('HGET', KEYS[10], id)
if failed then
  return {0, 'failed', failed, redis.call('HGET', KEYS[11], id)}
end
local done = redis.call('HGET', KEYS[9], id)
if done then
  return {0, 'done', done}
end
return {0, 'none'}
