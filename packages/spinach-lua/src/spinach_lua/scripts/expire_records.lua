--[[
Drop finished records and failed jobs past their retention, per-minute counts past their two
hours, throttled unique keys whose time is up, rate-limit times past, and the index entries of
expired results (beyond max_results, the results closest to expiry) (the housekeeper's call: records expire even
on a queue that no longer runs jobs).

KEYS
  done        HASH    id -> record of a finished job
  done_index  LIST    "<finished ms>:<id>" of finished jobs, oldest first
  failed_index  ZSET  id -> when it failed (ms), one per job of the failed store
  stats       HASH    per-minute counts of outcomes (see the history include)
  jobs        HASH    id -> record of the job (see the record include)
  unique      HASH    unique key -> id of the job holding it (see the unique include)
  unique_until  ZSET  unique key -> until when a finished job still holds it (ms)
  rates       ZSET    "<task>\0<rate key>" -> earliest start of its next job (see the rate include)
  results     ZSET    id -> when its stored result expires (ms); each result is the LIST
                      "<results>:<id>" (see the result include)

ARGV
  keep_done_ms  how long finished records are kept, in ms
  max_done    most finished records kept
  keep_failed_ms  how long failed jobs are kept, in ms
  max_failed  most failed jobs kept
  max_results  most stored results kept
  budget      most records of each kind to drop in this call

REPLY
  dropped     how many records, failed jobs, stale counts, unique keys and rate times were dropped
]]
--- @include "prelude"
--- @include "record"
--- @include "history"
--- @include "unique"
--- @include "rate"
--- @include "result"

local now = now_ms()
local q = {
  done = KEY.done, done_index = KEY.done_index, failed_index = KEY.failed_index,
  jobs = KEY.jobs, stats = KEY.stats, unique = KEY.unique, unique_until = KEY.unique_until,
  rates = KEY.rates, results = KEY.results,
}
local budget = tonumber(ARG.budget)
local dropped = trim_counts(q, now)
dropped = dropped + trim_done(q, now - tonumber(ARG.keep_done_ms), tonumber(ARG.max_done), budget)
dropped = dropped
  + trim_failed(q, now - tonumber(ARG.keep_failed_ms), tonumber(ARG.max_failed), budget)
dropped = dropped + expire_unique(q, now, budget) + expire_rates(q, now, budget)
dropped = dropped + expire_results(q, now, budget, tonumber(ARG.max_results))
return reply{dropped = dropped}
