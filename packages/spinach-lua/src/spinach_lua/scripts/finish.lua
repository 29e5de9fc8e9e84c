--[[
Record the outcomes of jobs a worker ran: success, final failure, or a retry later.

The acker's call, for outcomes that did not travel with a fetch (see fetch: the same include
applies them there).

KEYS
  running     ZSET    ids of fetched jobs (score: lease deadline ms)
  delayed     ZSET    ids of jobs waiting for their due time (score: due ms)
  wake        LIST    wake-up token for idle workers of this queue
  limited_running  ZSET  "<task>\0<id>" of running jobs of limited tasks
  done        HASH    id -> record of a finished job
  done_index  LIST    "<finished ms>:<id>" of finished jobs, oldest first
  failed_index  ZSET  id -> when it failed (ms), one per job of the failed store
  jobs        HASH    id -> record of the job (see the record include)
  stats       HASH    per-minute counts of outcomes (see the history include)
  unique      HASH    unique key -> id of the job holding it (see the unique include)
  unique_until  ZSET  unique key -> until when a finished job still holds it (ms)
  control     HASH    an operator's decisions (see fetch): max_running is read here
  results     ZSET    id -> when its stored result expires (ms); each result is the LIST
                      "<results>:<id>" (see the result include)
  outbox      LIST    signals of ended workflow steps, to relay (see the workflow include)

ARGV
  keep_done_ms  how long finished records are kept, in ms (0: none are written)
  max_done    most finished records kept
  keep_failed_ms  how long failed jobs are kept, in ms
  max_failed  most failed jobs kept
  max_results  most stored results kept
  outcomes*6  outcomes of jobs the caller ran (see the outcomes include)

REPLY
  applied     how many outcomes were applied
  rejected    ids whose outcome was rejected: the caller's lease is gone (fencing)
  signals     workflow signals the outcomes pushed on the outbox (the caller relays them)
]]
--- @include "prelude"
--- @include "record"
--- @include "lease"
--- @include "ready"
--- @include "limits"
--- @include "history"
--- @include "unique"
--- @include "result"
--- @include "workflow"
--- @include "outcomes"

local q = {
  delayed = KEY.delayed, running = KEY.running, wake = KEY.wake,
  limited_running = KEY.limited_running, done = KEY.done, done_index = KEY.done_index,
  failed_index = KEY.failed_index, jobs = KEY.jobs, stats = KEY.stats,
  unique = KEY.unique, unique_until = KEY.unique_until, results = KEY.results,
  outbox = KEY.outbox, capped = redis.call('HEXISTS', KEY.control, 'max_running') == 1,
}
local applied, rejected, signals = apply_outcomes(q, now_ms(), ARG.outcomes, ARG.outcomes_n, {
  keep_done = tonumber(ARG.keep_done_ms), max_done = tonumber(ARG.max_done),
  keep_failed = tonumber(ARG.keep_failed_ms), max_failed = tonumber(ARG.max_failed),
  max_results = tonumber(ARG.max_results),
})
return reply{applied = applied, rejected = rejected, signals = signals}
