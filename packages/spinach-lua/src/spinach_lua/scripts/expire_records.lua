--[[
Drop finished records and failed jobs past their retention (the heartbeat's call, so records
expire even on a queue that no longer runs jobs).

KEYS
  schema      STRING  schema version of this queue's data
  done        HASH    id -> record of a finished job
  done_index  LIST    "<finished ms>:<id>" of finished jobs, oldest first
  failed_index  ZSET  id -> when it failed (ms), one per job of the failed store
  jobs        HASH    id -> envelope (see the record include)
  state       HASH    id -> packed state of the job (see the record include)

ARGV
  version     schema version expected by the caller
  keep_done_ms  how long finished records are kept, in ms
  max_done    most finished records kept
  keep_failed_ms  how long failed jobs are kept, in ms
  max_failed  most failed jobs kept
  budget      most records of each kind to drop in this call

REPLY
  dropped     how many records and failed jobs were dropped
]]
--- @include "prelude"
--- @include "record"
--- @include "history"
--- @include "schema_guard"

local now = now_ms()
local q = {
  done = KEY.done, done_index = KEY.done_index, failed_index = KEY.failed_index,
  jobs = KEY.jobs, state = KEY.state,
}
local budget = tonumber(ARG.budget)
local dropped = trim_done(q, now - tonumber(ARG.keep_done_ms), tonumber(ARG.max_done), budget)
dropped = dropped
  + trim_failed(q, now - tonumber(ARG.keep_failed_ms), tonumber(ARG.max_failed), budget)
return reply{dropped = dropped}
