--[[
Cancel a job: one that has not started is removed at once and never runs; one that runs is
marked (record field `cn`) for its worker to stop it.

A waiting job leaves the delayed set, a job of another priority than 0 the ranked set. A job
queued in the ready list cannot leave it without a scan of the list, so its record is deleted:
the fetch that meets its id drops it. A cancelled job leaves a
finished record ('c') while records are kept. A cancelled job lets go of its unique key, and
leaves the result 'c' if it stores one (see the result include). A workflow step signals its
end (its chain stops, its group counts it: see the workflow include).

A running job is only marked: the caller tells the worker (it publishes the id on the
namespace's cancel channel) and the worker's renewals see the mark too, should the message be
lost. Whatever the run's outcome, it ends the job as cancelled (see the outcomes include), and
lease recovery never runs it again (see the recovery include).

KEYS
  delayed     ZSET    ids of jobs waiting for their due time (score: due ms)
  ranked      ZSET    ids of ready jobs of another priority than 0 (see the ready include)
  done        HASH    id -> record of a finished job
  done_index  LIST    "<finished ms>:<id>" of finished jobs, oldest first
  jobs        HASH    id -> record of the job (see the record include)
  unique      HASH    unique key -> id of the job holding it (see the unique include)
  unique_until  ZSET  unique key -> until when a finished job still holds it (ms)
  results     ZSET    id -> when its stored result expires (ms); each result is the LIST
                      "<results>:<id>" (see the result include)
  outbox      LIST    signals of ended workflow steps, to relay (see the workflow include)

ARGV
  id          the job's id
  keep_done_ms  how long finished records are kept, in ms (0: none is written)
  max_done    most finished records kept
  max_results  most stored results kept

REPLY
  outcome     'cancelled'; 'requested' (a worker runs it: it is marked to be stopped, now or
              by an earlier call); 'finished' (it
              already succeeded, failed or was cancelled, or its worker died running it and it
              waits to be reported failed); or 'unknown'
  signals     workflow signals pushed on the outbox (the caller relays them)
]]
--- @include "prelude"
--- @include "record"
--- @include "history"
--- @include "unique"
--- @include "result"
--- @include "workflow"

local id = ARG.id
local q = {
  jobs = KEY.jobs, done = KEY.done, done_index = KEY.done_index, unique = KEY.unique,
  unique_until = KEY.unique_until, results = KEY.results, outbox = KEY.outbox,
}
local now = now_ms()
local raw = read_raw(q, {id})[1]
local record = unpack_record(raw)
if record and record.l then
  if not record.cn then
    record.cn = now_text()
    write_records(q, {id}, {record})
  end
  return reply{outcome = 'requested', signals = 0}
end
if record and (record.x or record.s) then
  return reply{outcome = 'finished', signals = 0}  -- failed, or its worker died: it is being reported failed
end
if not record then
  if redis.call('HEXISTS', KEY.done, id) == 1 then
    return reply{outcome = 'finished', signals = 0}
  end
  return reply{outcome = 'unknown', signals = 0}
end

redis.call('ZREM', KEY.delayed, id)
redis.call('ZREM', KEY.ranked, id)
delete_records(q, {id})
release_unique(q, id, record, 'c', now)
if record.rt then
  store_result(q, now, id, 'c', tonumber(record.rt), tonumber(ARG.max_results))
end
local keep_done = tonumber(ARG.keep_done_ms)
if keep_done > 0 then
  add_done(q, now, {id, make_done_record('c', state_of(raw))}, tonumber(ARG.max_done))
end
local signals = signal_exits(q, record.wo, 'c', 'job ' .. id .. ' was cancelled')
return reply{outcome = 'cancelled', signals = signals}
