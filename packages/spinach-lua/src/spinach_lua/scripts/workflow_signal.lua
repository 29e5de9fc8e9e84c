--[[
Apply signals of ended workflow steps to the jobs and groups of this queue (a relay's call).

Each signal names what it moves on (see the workflow include): a held job to start with the
result before it, or to stop because the step before it did not succeed, or a group member
to count. Applying a signal twice changes nothing, so a relay that died after applying and
before removing it from its outbox is harmless. What the signals set moving here pushes its
own signals on this queue's outbox: the reply says how many, for the relay to go on with.

KEYS
  ready       LIST    ids of jobs ready to run, oldest first
  ranked      ZSET    ids of ready jobs of another priority than 0 (see the ready include)
  ranked_seq  STRING  last sequence number of the ranked set
  wake        LIST    wake-up token for idle workers of this queue
  jobs        HASH    id -> record of the job (see the record include)
  done        HASH    id -> record of a finished job
  done_index  LIST    "<finished ms>:<id>" of finished jobs, oldest first
  results     ZSET    id -> when its stored result expires (ms); each result is the LIST
                      "<results>:<id>" (see the result include)
  outbox      LIST    signals of ended workflow steps, to relay (see the workflow include)
  workflows   STRING  the name the keys of this queue's workflow groups start with

ARGV
  keep_done_ms  how long finished records are kept, in ms (0: none are written)
  max_done    most finished records kept
  max_results  most stored results kept
  group_ttl_ms  how long a completed group is kept, in ms
  signals*    the signals, as the outbox holds them

REPLY
  applied     how many signals changed something
  pushed      how many signals this call pushed on this queue's outbox
]]
--- @include "prelude"
--- @include "record"
--- @include "ready"
--- @include "history"
--- @include "result"
--- @include "workflow"

local q = {
  ready = KEY.ready, ranked = KEY.ranked, ranked_seq = KEY.ranked_seq, wake = KEY.wake,
  jobs = KEY.jobs, done = KEY.done, done_index = KEY.done_index, results = KEY.results,
  outbox = KEY.outbox, workflows = KEY.workflows,
}
local retention = {
  keep_done = tonumber(ARG.keep_done_ms), max_done = tonumber(ARG.max_done),
  max_results = tonumber(ARG.max_results),
}
local now = now_ms()
local applied, pushed = 0, 0
for i = ARG.signals, ARG.signals + ARG.signals_n - 1 do
  local exit, letter, data = string.match(ARGV[i], '^([^\6]*)\6([^\6]*)\6(.*)$')
  local parts = {}
  for part in string.gmatch(exit or '', '[^\4]+') do
    parts[#parts + 1] = part
  end
  local op = parts[1]
  if op == 'N' and letter == 's' or op == 'C' then
    if release_held(q, parts[3], data) then
      applied = applied + 1
    end
  elseif op == 'N' then
    local more = stop_held(q, now, parts[3], data, retention)
    if more > 0 or redis.call('HEXISTS', q.jobs, parts[3]) == 0 then
      applied = applied + 1
    end
    pushed = pushed + more
  elseif op == 'G' then
    pushed = pushed + count_member(q, parts[3], parts[4], letter, data, tonumber(ARG.group_ttl_ms))
    applied = applied + 1
  end
end
return reply{applied = applied, pushed = pushed}
