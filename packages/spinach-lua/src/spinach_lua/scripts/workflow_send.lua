--[[
Create the jobs and groups of one workflow that live in this queue, atomically and at most
once per call (one call per queue the workflow involves).

A job that waits for other steps is held (see the workflow include) until a signal starts or
stops it; the others are queued at the tail of their priority now. The queue that holds the
workflow's first job also keeps its member list, for `get_workflow`.

KEYS
  token       STRING  idempotency marker of this call (expires after token_ttl_ms)
  ready       LIST    ids of jobs ready to run, oldest first
  ranked      ZSET    ids of ready jobs of another priority than 0 (see the ready include)
  ranked_seq  STRING  last sequence number of the ranked set
  wake        LIST    wake-up token for idle workers of this queue
  jobs        HASH    id -> record of the job (see the record include)
  workflows   STRING  the name the keys of this queue's workflow groups start with

ARGV
  token_ttl_ms  lifetime of the idempotency marker, in ms
  workflow    the workflow's id
  members     its member list ("<queue>\4<job>", joined by \5) when this queue keeps it, or ""
  keep_ms     how long the member list is kept, in ms
  groups*3    one group of three per group living here: id, member count, its exits
  jobs*9      one group of nine per job: id, task, retry budget (0: at most once, -1: no
              limit), priority, result lifetime in ms (0: none), rate limit ("<interval
              ms>\3<rate key>" or ""), "1" when held, its exits, its envelope

REPLY
  queued      jobs queued to run now
  held        jobs held until the steps before them end
]]
--- @include "prelude"
--- @include "record"
--- @include "ready"
--- @include "history"
--- @include "result"
--- @include "workflow"

if not redis.call('SET', KEY.token, '1', 'NX', 'PX', ARG.token_ttl_ms) then
  return reply{queued = 0, held = 0}
end
local q = {
  ready = KEY.ready, ranked = KEY.ranked, ranked_seq = KEY.ranked_seq, jobs = KEY.jobs,
  workflows = KEY.workflows,
}
local now = now_ms()
for i = ARG.groups, ARG.groups + ARG.groups_n - 1, 3 do
  local key = group_key(q, ARGV[i])
  redis.call('HSET', key, 'total', ARGV[i + 1], 'n', 0, 'exits', ARGV[i + 2])
end
if ARG.members ~= '' then
  local key = flow_key(q, ARG.workflow)
  redis.call('SET', key, ARG.members, 'PX', ARG.keep_ms)
end
local ready, priorities, held = {}, {}, 0
for i = ARG.jobs, ARG.jobs + ARG.jobs_n - 1, 9 do
  local id, priority = ARGV[i], tonumber(ARGV[i + 3])
  local record = {
    t = ARGV[i + 1], c = now_text(), b = ARGV[i + 2] ~= '0' and ARGV[i + 2] or nil,
    p = priority ~= 0 and priority or nil, rt = ARGV[i + 4] ~= '0' and ARGV[i + 4] or nil,
    rl = ARGV[i + 5] ~= '' and ARGV[i + 5] or nil, h = ARGV[i + 6] ~= '' and '1' or nil,
    wf = ARG.workflow, wo = ARGV[i + 7] ~= '' and ARGV[i + 7] or nil, e = ARGV[i + 8],
  }
  if create_record(q, id, record) then
    if record.h then
      held = held + 1
    else
      ready[#ready + 1] = id
      priorities[#ready] = priority
    end
  end
end
if #ready > 0 then
  push_ready(q, ready, priorities, false)
  redis.call('RPUSH', KEY.wake, '1')
end
return reply{queued = #ready, held = held}
