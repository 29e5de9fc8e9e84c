--[[
Count the jobs of one queue by state, read-only.

KEYS
  ready       LIST    ids of jobs ready to run
  ranked      ZSET    ids of ready jobs of another priority than 0 (see the ready include)
  delayed     ZSET    ids of jobs waiting for their due time
  running     ZSET    ids of running jobs
  failed_index  ZSET  id -> when it failed (ms), one per job of the failed store
  jobs        HASH    id -> record of the job (see the record include)
  control     HASH    an operator's decisions: paused, max_running (see fetch)

ARGV

REPLY
  ready       jobs ready to run, of any priority (it may count cancelled jobs not met yet: never fewer
              jobs than can run)
  delayed     jobs waiting for their due time
  running     jobs leased to a worker
  failed      jobs in the failed store
  oldest_id   id of the job at the head of the ready list, else of the ranked set (false when
              nothing is ready)
  oldest_queued_ms  when that job was queued (ms, Redis time; -1 if unknown)
  oldest_envelope  its envelope (false if unknown): its due time tells when it came due
  now_ms      Redis's time now (ms)
  paused      1 while the queue is paused (its workers start none of its jobs), else 0
  max_running  most jobs of the queue that may run at once (-1: no limit)
]]
--- @include "prelude"
--- @include "control"
--- @include "record"

local paused, max_running = read_control(KEY.control)
local oldest = redis.call('LINDEX', KEY.ready, 0)
  or redis.call('ZRANGE', KEY.ranked, 0, 0)[1] or false
local queued, envelope = -1, false
if oldest then
  local record = unpack_record(read_raw({jobs = KEY.jobs}, {oldest})[1])
  queued = record and tonumber(record.c) or -1
  envelope = record and record.e or false
end
return reply{
  ready = redis.call('LLEN', KEY.ready) + redis.call('ZCARD', KEY.ranked), delayed = redis.call('ZCARD', KEY.delayed),
  running = redis.call('ZCARD', KEY.running), failed = redis.call('ZCARD', KEY.failed_index),
  oldest_id = oldest, oldest_queued_ms = queued, oldest_envelope = envelope, now_ms = now_ms(),
  paused = paused and 1 or 0, max_running = max_running or -1,
}
