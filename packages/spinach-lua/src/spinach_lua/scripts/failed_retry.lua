--[[
Queue failed jobs again, with their id and a fresh attempt budget.

A job is queued at the tail of its priority as if sent now (its creation time is now; a job
of a task at its limit is parked by the next fetch) and leaves the failed store. A job whose
envelope cannot be decoded cannot run again and stays in the store. The result of its failure,
if it stores one, is dropped: whoever waits for its result waits for the new run.

KEYS
  failed_index  ZSET  id -> when it failed (ms), one per job of the failed store
  ready       LIST    ids of jobs ready to run, oldest first
  ranked      ZSET    ids of ready jobs of another priority than 0 (see the ready include)
  ranked_seq  STRING  last sequence number of the ranked set
  wake        LIST    wake-up token for idle workers of this queue
  jobs        HASH    id -> record of the job (see the record include)
  results     ZSET    id -> when its stored result expires (ms); each result is the LIST
                      "<results>:<id>" (see the result include)

ARGV
  mode        'ids': the ids follow; 'all': the oldest failed jobs, see below
  skip        with 'all': how many of the oldest failed jobs to skip (ones passed over before)
  limit       with 'all': most failed jobs to look at in this call
  task        with 'all': only the jobs of this task ("": of every task)
  ids*        with 'ids': the ids

REPLY
  retried     ids queued again
  unknown     ids the store does not hold
  unretriable ids that cannot run again (their envelope is unusable)
  skipped     with 'all': ids looked at and left alone (another task's)
]]
--- @include "prelude"
--- @include "record"
--- @include "ready"
--- @include "result"

local ids = {}
if ARG.mode == 'all' then
  local first = tonumber(ARG.skip)
  ids = redis.call('ZRANGE', KEY.failed_index, first, first + tonumber(ARG.limit) - 1)
else
  for i = ARG.ids, ARG.ids + ARG.ids_n - 1 do
    ids[#ids + 1] = ARGV[i]
  end
end

local q = {
  jobs = KEY.jobs, ready = KEY.ready, ranked = KEY.ranked, ranked_seq = KEY.ranked_seq,
  results = KEY.results,
}
local records = read_records(q, ids)
local now = now_ms()
local retried, unknown, unretriable, skipped, fresh = {}, {}, {}, {}, {}
local priorities = {}
for n, id in ipairs(ids) do
  local record = records[n]
  if not record or record.s ~= 'f' then
    unknown[#unknown + 1] = id
  elseif ARG.mode == 'all' and ARG.task ~= '' and record.t ~= ARG.task then
    skipped[#skipped + 1] = id
  elseif not record.e or record.e == '' or record.u then
    unretriable[#unretriable + 1] = id
  else
    retried[#retried + 1] = id
    fresh[#fresh + 1] = {
      t = record.t, c = now_text(), b = record.b, e = record.e, p = record.p, rt = record.rt,
    }
    priorities[#retried] = tonumber(record.p) or 0
  end
end
if #retried > 0 then
  call_sliced('ZREM', KEY.failed_index, retried)
  for _, id in ipairs(retried) do
    if records[_].rt then
      forget_result(q, id)
    end
  end
  write_records(q, retried, fresh)
  push_ready(q, retried, priorities, false)
  ensure_wake_token(KEY.wake)
end
return reply{retried = retried, unknown = unknown, unretriable = unretriable, skipped = skipped}
