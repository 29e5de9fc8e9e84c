--[[
Move due delayed jobs to the ready list, then take up to ARGV[2] ready jobs for one worker.

KEYS[1] schema      STRING  schema version of this queue's data
KEYS[2] ready       LIST    ids of jobs ready to run, oldest first
KEYS[3] delayed     ZSET    ids of jobs waiting for their due time (score: due ms)
KEYS[4] running     ZSET    ids of running jobs (score: lease deadline ms)
KEYS[5] jobs        HASH    id -> encoded job envelope
KEYS[6] retries     HASH    id -> number of retries already scheduled (absent: 0)
KEYS[7] wake        LIST    wake-up token for idle workers of this queue

ARGV[1]             schema version expected by the caller
ARGV[2]             how many jobs the caller can start now (may be 0: only promote)
ARGV[3]             lease duration in ms
ARGV[4]             how many due jobs to promote at most in this call

Returns {0, ids, payloads, retries, ready_left, delayed_left, next_due_in_ms}
        payloads[i] is false when the envelope of ids[i] is missing (reported by the worker as a
        corrupt job); next_due_in_ms is -1 when no job is delayed.
        {-1, stored}        schema mismatch: nothing done
]]
--- @include "prelude"

local err = schema_error(KEYS[1], ARGV[1])
if err then
  return err
end

local now = now_ms()
local wanted = tonumber(ARGV[2])

-- Promotion uses Redis time, so no job is taken before its due time whatever the workers' clocks.
local due = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, tonumber(ARGV[4]))
if #due > 0 then
  call_sliced('RPUSH', KEYS[2], due)
  call_sliced('ZREM', KEYS[3], due)
end

local ids = {}
local payloads = {}
local retries = {}
if wanted > 0 then
  ids = redis.call('LPOP', KEYS[2], wanted) or {}
end
if #ids > 0 then
  payloads = redis.call('HMGET', KEYS[5], unpack(ids))
  retries = redis.call('HMGET', KEYS[6], unpack(ids))
  local deadline = now + tonumber(ARGV[3])
  local leases = {}
  for i = 1, #ids do
    leases[#leases + 1] = deadline
    leases[#leases + 1] = ids[i]
    if retries[i] == false then
      retries[i] = 0
    end
  end
  call_sliced('ZADD', KEYS[4], leases)
end

local ready_left = redis.call('LLEN', KEYS[2])
if ready_left > 0 then
  -- More work than this worker took: pass the wake-up on to another idle worker.
  ensure_wake_token(KEYS[7])
end

local next_due = earliest_due(KEYS[3])
local next_due_in = -1
if next_due then
  next_due_in = math.max(0, next_due - now)
end
return {0, ids, payloads, retries, ready_left, redis.call('ZCARD', KEYS[3]), next_due_in}
