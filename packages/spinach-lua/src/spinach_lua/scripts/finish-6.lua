--[[
Record the outcome of jobs a worker ran: success, final failure, or a retry later.

KEYS[1] schema      STRING  schema version of this queue's data
KEYS[2] running     ZSET    ids of running jobs (score: lease deadline ms)
KEYS[3] jobs        HASH    id -> encoded job envelope
KEYS[4] retries     HASH    id -> number of retries already scheduled
KEYS[5] delayed     ZSET    ids of jobs waiting for their due time (score: due ms)
KEYS[6] wake        LIST    wake-up token for idle workers of this queue

ARGV[1]             schema version expected by the caller
ARGV[2..]           one group of three per job: op, id, when
                      op 's': succeeded; 'f': failed for good (when is ignored)
                      op 'r': retry when ms from now; 'R': retry at the absolute time when (ms)

Each outcome applies only while the job is still recorded as running, so a batch re-sent after a
lost reply changes nothing twice.

Returns {0, applied, stale}: stale counts outcomes for jobs that were no longer running.
        {-1, stored}        schema mismatch: nothing done
]]
--- @include "prelude"

local err = schema_error(KEYS[1], ARGV[1])
if err then
  return err
end

local now = now_ms()
local earliest_before = earliest_due(KEYS[5])
local earliest = nil
local applied = 0
local stale = 0

for i = 2, #ARGV, 3 do
  local op = ARGV[i]
  local id = ARGV[i + 1]
  if redis.call('ZREM', KEYS[2], id) == 1 then
    applied = applied + 1
    if op == 'r' or op == 'R' then
      local due = tonumber(ARGV[i + 2])
      if op == 'r' then
        due = now + due
      end
      redis.call('HINCRBY', KEYS[4], id, 1)
      redis.call('ZADD', KEYS[5], due, id)
      if earliest == nil or due < earliest then
        earliest = due
      end
    else
      redis.call('HDEL', KEYS[3], id)
      redis.call('HDEL', KEYS[4], id)
    end
  else
    stale = stale + 1
  end
end

if earliest and (earliest_before == nil or earliest < earliest_before) then
  ensure_wake_token(KEYS[6])
end
return {0, applied, stale}
