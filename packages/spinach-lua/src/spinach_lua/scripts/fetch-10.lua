--[[
Take up to ARGV[2] ready jobs for one worker, each under a fenced lease.

Before that, it moves due delayed jobs to the ready list and takes back jobs whose lease expired
(see recover_expired), so every fetch is also a maintenance tick.

KEYS[1]  schema     STRING  schema version of this queue's data
KEYS[2]  ready      LIST    ids of jobs ready to run, oldest first
KEYS[3]  delayed    ZSET    ids of jobs waiting for their due time (score: due ms)
KEYS[4]  running    ZSET    ids of fetched jobs (score: lease deadline ms)
KEYS[5]  jobs       HASH    id -> encoded job envelope
KEYS[6]  retries    HASH    id -> number of retries already scheduled (absent: 0)
KEYS[7]  wake       LIST    wake-up token for idle workers of this queue
KEYS[8]  leases     HASH    id -> fencing token of the lease of a fetched job
KEYS[9]  budget     HASH    id -> max_retries of jobs that may run again (-1: no limit)
KEYS[10] lease_seq  STRING  last fencing token handed out in this queue

ARGV[1]             schema version expected by the caller
ARGV[2]             how many jobs the caller can start now (may be 0: maintenance only)
ARGV[3]             lease duration in ms
ARGV[4]             how many due jobs to promote at most in this call
ARGV[5]             how many expired leases to take back at most in this call

Returns {0, ids, payloads, retries, tokens, ready_left, delayed_left, next_due_in_ms, failed,
         running_left, next_expiry_in_ms}
        payloads[i] is false when the envelope of ids[i] is missing (a corrupt job);
        next_due_in_ms is -1 when no job is delayed; failed is {ids, payloads, retries} of jobs
        whose lease expired and that may not run again: the caller reports them failed;
        next_expiry_in_ms is -1 when no job is running, else the time to the earliest lease
        deadline (when a sleeping worker should look for an abandoned job).
        When ready_left > 0, delayed_left, next_due_in_ms, running_left and next_expiry_in_ms
        are all -1: the caller fetches again at once and needs none of them.
        {-1, stored}        schema mismatch: nothing done
]]
--- @include "prelude"

local err = schema_error(KEYS[1], ARGV[1])
if err then
  return err
end

local now = now_ms()
local wanted = tonumber(ARGV[2])

local failed = recover_expired({
  running = KEYS[4], leases = KEYS[8], budget = KEYS[9], retries = KEYS[6], jobs = KEYS[5],
  ready = KEYS[2], wake = KEYS[7],
}, now, tonumber(ARGV[5]))

-- Promotion uses Redis time, so no job is taken before its due time whatever the workers' clocks.
local due = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, tonumber(ARGV[4]))
if #due > 0 then
  call_sliced('RPUSH', KEYS[2], due)
  call_sliced('ZREM', KEYS[3], due)
end

local ids = {}
local payloads = {}
local retries = {}
local tokens = {}
if wanted > 0 then
  ids = redis.call('LPOP', KEYS[2], wanted) or {}
end
if #ids > 0 then
  payloads = hmget_sliced(KEYS[5], ids)
  retries = hmget_sliced(KEYS[6], ids)
  local last_token = redis.call('INCRBY', KEYS[10], #ids)
  local deadline = now + tonumber(ARGV[3])
  local leases = {}
  local deadlines = {}
  for i = 1, #ids do
    local token = last_token - #ids + i
    tokens[i] = token
    leases[#leases + 1] = ids[i]
    leases[#leases + 1] = token
    deadlines[#deadlines + 1] = deadline
    deadlines[#deadlines + 1] = ids[i]
    if retries[i] == false then
      retries[i] = 0
    end
  end
  call_sliced('HSET', KEYS[8], leases)
  call_sliced('ZADD', KEYS[4], deadlines)
end

local ready_left = redis.call('LLEN', KEYS[2])
if ready_left > 0 then
  -- More work than this worker took: pass the wake-up on to another idle worker. The caller
  -- fetches again without sleeping, so the figures below are not needed: skip their cost.
  ensure_wake_token(KEYS[7])
  return {0, ids, payloads, retries, tokens, ready_left, -1, -1, failed, -1, -1}
end

local next_due = earliest_due(KEYS[3])
local next_due_in = -1
if next_due then
  next_due_in = math.max(0, next_due - now)
end
local next_expiry = earliest_due(KEYS[4])
local next_expiry_in = -1
if next_expiry then
  next_expiry_in = math.max(0, next_expiry - now)
end
return {
  0, ids, payloads, retries, tokens, ready_left, redis.call('ZCARD', KEYS[3]), next_due_in, failed,
  redis.call('ZCARD', KEYS[4]), next_expiry_in,
}
