--[[
Drop finished records and failed jobs past their retention (the heartbeat's call, so records
expire even on a queue that no longer runs jobs).

KEYS[1] schema      STRING  schema version of this queue's data
KEYS[2] done        HASH    id -> record of a finished job
KEYS[3] done_index  LIST    "<finished ms>:<id>" of finished jobs, oldest first
KEYS[4] failed      HASH    id -> record of a job that failed for good
KEYS[5] failed_jobs HASH    id -> envelope of a job that failed for good
KEYS[6] failed_index ZSET   id -> when it failed (ms)

ARGV[1]             schema version expected by the caller
ARGV[2]             how long finished records are kept, in ms
ARGV[3]             most finished records kept
ARGV[4]             how long failed jobs are kept, in ms
ARGV[5]             most failed jobs kept
ARGV[6]             most records of each kind to drop in this call

Returns {0, dropped}
        {-1, stored}        schema mismatch: nothing done
]]
--- @include "prelude"
--- @include "records"
--- @include "schema_guard"

local now = now_ms()
local q = {
  done = KEYS[2], done_index = KEYS[3], failed = KEYS[4], failed_jobs = KEYS[5],
  failed_index = KEYS[6],
}
local budget = tonumber(ARGV[6])
local dropped = trim_done(q, now - tonumber(ARGV[2]), tonumber(ARGV[3]), budget)
dropped = dropped + trim_failed(q, now - tonumber(ARGV[4]), tonumber(ARGV[5]), budget)
return {0, dropped}
