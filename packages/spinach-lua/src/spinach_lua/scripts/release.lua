--[[
Hand jobs a worker fetched but never started back to the head of their queue (of their
priority), in their order.

Only jobs whose lease is still the caller's are handed back, so a re-sent call or a zombie
worker changes nothing. No attempt is counted: the job never started. Back in the ready list, a
job of a task at its limit is parked again by the next fetch. A job that let go of its unique
key when it was fetched (unique_until "started") takes it back, unless another job holds it.
A job whose cancel was asked for meanwhile (`cn`) goes back marked as abandoned, as lease
recovery marks it: the worker that fetches it reports it cancelled and never runs it.

KEYS
  running     ZSET    ids of fetched jobs (score: lease deadline ms)
  ready       LIST    ids of jobs ready to run, oldest first
  ranked      ZSET    ids of ready jobs of another priority than 0 (see the ready include)
  ranked_seq  STRING  last sequence number of the ranked set
  wake        LIST    wake-up token for idle workers of this queue
  limited_running  ZSET  "<task>\0<id>" of running jobs of limited tasks
  jobs        HASH    id -> record of the job (see the record include)
  unique      HASH    unique key -> id of the job holding it (see the unique include)
  unique_until  ZSET  unique key -> until when a finished job still holds it (ms)

ARGV
  leases*2    one pair per job, in the order they were fetched: id, lease

REPLY
  released    how many jobs went back to the queue
]]
--- @include "prelude"
--- @include "record"
--- @include "lease"
--- @include "ready"
--- @include "limits"
--- @include "unique"

local q = {
  ready = KEY.ready, ranked = KEY.ranked, ranked_seq = KEY.ranked_seq, jobs = KEY.jobs,
  limited_running = KEY.limited_running, unique = KEY.unique, unique_until = KEY.unique_until,
}
local ids, tokens = {}, {}
for i = ARG.leases, ARG.leases + ARG.leases_n - 1, 2 do
  ids[#ids + 1] = ARGV[i]
  tokens[#ids] = ARGV[i + 1]
end
local raws = read_raw(q, ids)
local released, held, kept, priorities = {}, {}, {}, {}
for n = #ids, 1, -1 do
  local raw = raws[n]
  if raw and lease_of(raw) == tokens[n] then
    released[#released + 1] = ids[n]
    held[#held + 1] = raw
    local stripped = without_lease(raw)
    if cancel_of(raw) then
      local record = unpack_record(stripped)
      record.x = '1'
      stripped = pack_record(record)
    end
    kept[#kept + 1] = stripped
    priorities[#priorities + 1] = priority_of(raw)
  end
end
free_slots(q, released, held)
write_raw(q, released, kept)
call_sliced('ZREM', KEY.running, released)
push_ready(q, released, priorities, true)
local now = nil
for n, id in ipairs(released) do
  if may_be_unique(held[n]) then
    local record = unpack_record(held[n])
    if record.k and unique_rule(record.km) == 's' then
      now = now or now_ms()
      if not unique_holder(q, record.k, now) then
        hold_unique(q, record.k, id)
      end
    end
  end
end
if #released > 0 then
  ensure_wake_token(KEY.wake)
end
return reply{released = #released}
