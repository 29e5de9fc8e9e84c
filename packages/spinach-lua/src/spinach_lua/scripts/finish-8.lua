--[[
Record the outcome of jobs a worker ran: success, final failure, or a retry later.

KEYS[1] schema      STRING  schema version of this queue's data
KEYS[2] running     ZSET    ids of fetched jobs (score: lease deadline ms)
KEYS[3] jobs        HASH    id -> encoded job envelope
KEYS[4] retries     HASH    id -> number of retries already scheduled
KEYS[5] delayed     ZSET    ids of jobs waiting for their due time (score: due ms)
KEYS[6] wake        LIST    wake-up token for idle workers of this queue
KEYS[7] leases      HASH    id -> fencing token of the lease of a fetched job
KEYS[8] budget      HASH    id -> max_retries of jobs that may run again

ARGV[1]             schema version expected by the caller
ARGV[2..]           one group of four per job: op, id, token, when
                      op 's': succeeded; 'f': failed for good (when is ignored)
                      op 'r': retry when ms from now; 'R': retry at the absolute time when (ms)

Fencing: an outcome applies only while the job's lease still carries the caller's token. A
worker whose lease expired and was taken over (a zombie back from a pause or a partition), or a
batch re-sent after a lost reply, changes nothing.

Returns {0, applied, rejected_ids}
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
local rejected = {}

for i = 2, #ARGV, 4 do
  local op = ARGV[i]
  local id = ARGV[i + 1]
  if redis.call('HGET', KEYS[7], id) == ARGV[i + 2] then
    applied = applied + 1
    redis.call('HDEL', KEYS[7], id)
    redis.call('ZREM', KEYS[2], id)
    if op == 'r' or op == 'R' then
      local due = tonumber(ARGV[i + 3])
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
      redis.call('HDEL', KEYS[8], id)
    end
  else
    rejected[#rejected + 1] = id
  end
end

if earliest and (earliest_before == nil or earliest < earliest_before) then
  ensure_wake_token(KEYS[6])
end
return {0, applied, rejected}
