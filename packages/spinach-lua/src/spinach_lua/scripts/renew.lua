--[[
Extend the leases a live worker holds, and take back expired ones (the heartbeat's call).

Expired leases are taken back first, so a worker that missed its renewals cannot extend a lease
that is no longer its own.

KEYS
  running     ZSET    ids of fetched jobs (score: lease deadline ms)
  ready       LIST    ids of jobs ready to run
  ranked      ZSET    ids of ready jobs of another priority than 0 (see the ready include)
  ranked_seq  STRING  last sequence number of the ranked set
  wake        LIST    wake-up token for idle workers of this queue
  limits      HASH    task -> how many of its jobs may run at once
  limited_running  ZSET  "<task>\0<id>" of running jobs of limited tasks
  jobs        HASH    id -> record of the job (see the record include)
  parked*     LIST    one per task of `tasks`: its jobs held back by its limit

ARGV
  lease_ms    lease duration in ms
  recover_limit  most expired leases to take back in this call
  tasks*      the tasks of this queue the caller knows (their parked lists: `parked`)
  leases*2    one pair per job the caller runs: id, lease

REPLY
  lost        ids whose lease the caller no longer holds (their outcome will be rejected)
  recovered   how many expired leases of dead workers were taken back
  cancelled   ids of renewed jobs whose cancel was asked for (the worker stops them: this is
              the backstop of the message the cancel publishes)
]]
--- @include "prelude"
--- @include "record"
--- @include "lease"
--- @include "ready"
--- @include "limits"
--- @include "recovery"

local now = now_ms()
local q = {
  ready = KEY.ready, ranked = KEY.ranked, ranked_seq = KEY.ranked_seq, running = KEY.running, wake = KEY.wake,
  limited_running = KEY.limited_running, jobs = KEY.jobs,
}
load_tasks(q, ARG.tasks, ARG.tasks_n, KEY.parked, KEY.limits)
local recovered = recover_expired(q, now, tonumber(ARG.recover_limit))

local deadline = now + tonumber(ARG.lease_ms)
local ids, tokens = {}, {}
for i = ARG.leases, ARG.leases + ARG.leases_n - 1, 2 do
  ids[#ids + 1] = ARGV[i]
  tokens[#ids] = ARGV[i + 1]
end
local lost, renewed, cancelled = {}, {}, {}
for n, raw in ipairs(read_raw(q, ids)) do
  if raw and lease_of(raw) == tokens[n] then
    renewed[#renewed + 1] = deadline
    renewed[#renewed + 1] = ids[n]
    if cancel_of(raw) then
      cancelled[#cancelled + 1] = ids[n]
    end
  else
    lost[#lost + 1] = ids[n]
  end
end
if #renewed > 0 then
  for first = 1, #renewed, SLICE do
    redis.call('ZADD', KEY.running, 'XX', unpack(renewed, first, math.min(first + SLICE - 1, #renewed)))
  end
end
return reply{lost = lost, recovered = recovered, cancelled = cancelled}
