--[[
Take up to ARGV[2] jobs for one worker, each under a fenced lease, respecting task limits.

Before that, it takes back jobs whose lease expired and moves due delayed jobs to their list,
so every fetch is also a maintenance tick.

KEYS[1]  schema     STRING  schema version of this queue's data
KEYS[2]  ready      LIST    ids of jobs ready to run, oldest first
KEYS[3]  delayed    ZSET    ids of jobs waiting for their due time (score: due ms)
KEYS[4]  running    ZSET    ids of fetched jobs (score: lease deadline ms)
KEYS[5]  jobs       HASH    id -> encoded job envelope
KEYS[6]  retries    HASH    id -> number of retries already scheduled (absent: 0)
KEYS[7]  wake       LIST    wake-up token for idle workers of this queue
KEYS[8]  leases     HASH    id -> lease of a fetched job ("<fencing token>:<started ms>:<worker>")
KEYS[9]  budget     HASH    id -> max_retries of jobs that may run again (-1: no limit)
KEYS[10] lease_seq  STRING  last fencing token handed out in this queue
KEYS[11] tasks      HASH    id -> task name
KEYS[12] limits     HASH    task -> how many of its jobs may run at once
KEYS[13] limited_running ZSET "<task>\0<id>" of running jobs of limited tasks
KEYS[14] abandoned  HASH    id -> 1 for jobs whose worker died and that may not run again
KEYS[15] cancelled  SET     ids cancelled while in the ready or a parked list: skipped here
KEYS[16..] parked   LIST    one per task of ARGV[8..]: its jobs held back by its limit

ARGV[1]             schema version expected by the caller
ARGV[2]             how many jobs the caller can start now (may be 0: maintenance only)
ARGV[3]             lease duration in ms
ARGV[4]             how many due jobs to promote at most in this call
ARGV[5]             how many expired leases to take back at most in this call
ARGV[6]             the caller's worker id (recorded in the leases: who runs what, since when)
ARGV[7]             how many task names follow
ARGV[8..]           the tasks of this queue the caller knows (their parked lists: KEYS[16..])

Jobs of a limited task are taken from its parked list first while it has free slots; a job
of a task at its limit met in the ready list is moved to its parked list, once, so no fetch
scans the same blocked job twice and the jobs of a task keep their order.

A cancelled job left in a list (removing it there would scan the list) is dropped when popped.

Returns {0, ids, payloads, retries, tokens, ready_left, delayed_left, next_due_in_ms, abandoned,
         running_left, next_expiry_in_ms}
        payloads[i] is false when the envelope of ids[i] is missing (a corrupt job);
        ready_left counts the jobs that could start now (ready, or parked with a free slot);
        next_due_in_ms is -1 when no job is delayed; abandoned[i] is 1 when ids[i] lost its
        worker mid-run and may not run again: the caller reports it failed instead of running it;
        next_expiry_in_ms is -1 when no job is running, else the time to the earliest lease
        deadline (when a sleeping worker should look for an abandoned job).
        When ready_left > 0, delayed_left, next_due_in_ms, running_left and next_expiry_in_ms
        are all -1: the caller fetches again at once and needs none of them.
        {-1, stored}        schema mismatch: nothing done
]]
--- @include "prelude"
--- @include "limits"
--- @include "records"
--- @include "schema_guard"

local now = now_ms()
local wanted = tonumber(ARGV[2])
local names
local q = {
  ready = KEYS[2], running = KEYS[4], jobs = KEYS[5], retries = KEYS[6], wake = KEYS[7],
  leases = KEYS[8], budget = KEYS[9], tasks = KEYS[11], limited_running = KEYS[13],
  abandoned = KEYS[14],
}
names = load_tasks(q, 7, 15, KEYS[12])
local worker = ARGV[6]

-- Ids of cancelled jobs are dropped as they are popped; the check costs one SCARD when none are.
local has_cancelled = redis.call('SCARD', KEYS[15]) > 0
local function drop_cancelled(popped)
  if not has_cancelled or #popped == 0 then
    return popped
  end
  local flags = redis.call('SMISMEMBER', KEYS[15], unpack(popped))
  local kept, dropped = {}, {}
  for n, id in ipairs(popped) do
    if flags[n] == 1 then
      dropped[#dropped + 1] = id
    else
      kept[#kept + 1] = id
    end
  end
  call_sliced('SREM', KEYS[15], dropped)
  return kept
end

recover_expired(q, now, tonumber(ARGV[5]))

-- Promotion uses Redis time, so no job is taken before its due time whatever the workers' clocks.
local due = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, tonumber(ARGV[4]))
if #due > 0 then
  call_sliced('ZREM', KEYS[3], due)
  route(q, due)
end

local ids, id_tasks = {}, {}
local spare = {}
for _, name in ipairs(names) do
  if q.limits[name] then
    spare[name] = q.limits[name] - running_of(q, name)
  end
end

-- Parked jobs first: they are the oldest of their task. (When a task loses its limit, its
-- parked jobs go back to the ready list at once: only limited tasks have parked jobs.)
for _, name in ipairs(names) do
  local room = math.min(wanted - #ids, spare[name] or 0)
  if room > 0 then
    local taken = drop_cancelled(redis.call('LPOP', q.parked[name], room) or {})
    for _, id in ipairs(taken) do
      ids[#ids + 1] = id
      id_tasks[#ids] = name
    end
    spare[name] = spare[name] - #taken
  end
end

-- Then the ready list; jobs of a task at its limit are set aside in its parked list.
local moved = 0
while #ids < wanted and moved < 1000 do
  local popped = redis.call('LPOP', q.ready, wanted - #ids) or {}
  if #popped == 0 then
    break
  end
  local count = #popped
  popped = drop_cancelled(popped)
  moved = moved + count - #popped
  -- Only a queue with limited tasks needs to know whose jobs these are.
  local popped_tasks = next(spare) and hmget_sliced(q.tasks, popped) or {}
  local held = {}
  for n, id in ipairs(popped) do
    local name = popped_tasks[n]
    if name and spare[name] and q.parked[name] and spare[name] <= 0 then
      held[name] = held[name] or {}
      held[name][#held[name] + 1] = id
      moved = moved + 1
    else
      ids[#ids + 1] = id
      id_tasks[#ids] = name
      if name and spare[name] then
        spare[name] = spare[name] - 1
      end
    end
  end
  for name, waiting in pairs(held) do
    call_sliced('RPUSH', q.parked[name], waiting)
  end
end

local payloads = {}
local retries = {}
local tokens = {}
local abandoned = {}
if #ids > 0 then
  payloads = hmget_sliced(KEYS[5], ids)
  retries = hmget_sliced(KEYS[6], ids)
  abandoned = hmget_sliced(KEYS[14], ids)
  local last_token = redis.call('INCRBY', KEYS[10], #ids)
  local deadline = now + tonumber(ARGV[3])
  local leases, deadlines, limited = {}, {}, {}
  for i = 1, #ids do
    local token = make_lease(last_token - #ids + i, now, worker)
    tokens[i] = token
    leases[#leases + 1] = ids[i]
    leases[#leases + 1] = token
    deadlines[#deadlines + 1] = deadline
    deadlines[#deadlines + 1] = ids[i]
    if retries[i] == false then
      retries[i] = 0
    end
    abandoned[i] = abandoned[i] and 1 or 0
    local name = id_tasks[i]
    if name and q.limits[name] then
      limited[#limited + 1] = 0
      limited[#limited + 1] = limited_member(name, ids[i])
    end
  end
  call_sliced('HSET', KEYS[8], leases)
  call_sliced('ZADD', KEYS[4], deadlines)
  call_sliced('ZADD', q.limited_running, limited)
end

local ready_left = redis.call('LLEN', KEYS[2])
for _, name in ipairs(names) do
  if spare[name] and spare[name] > 0 then
    ready_left = ready_left + math.min(spare[name], redis.call('LLEN', q.parked[name]))
  end
end
if ready_left > 0 then
  -- More work than this worker took: pass the wake-up on to another idle worker. The caller
  -- fetches again without sleeping, so the figures below are not needed: skip their cost.
  ensure_wake_token(KEYS[7])
  return {0, ids, payloads, retries, tokens, ready_left, -1, -1, abandoned, -1, -1}
end

return {
  0, ids, payloads, retries, tokens, ready_left, redis.call('ZCARD', KEYS[3]),
  ms_until_earliest(KEYS[3], now), abandoned, redis.call('ZCARD', KEYS[4]),
  ms_until_earliest(KEYS[4], now),
}
