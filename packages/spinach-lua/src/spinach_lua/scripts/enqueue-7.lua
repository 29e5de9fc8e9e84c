--[[
Enqueue jobs of one queue, atomically and at most once per call.

KEYS[1] schema      STRING  schema version of this queue's data
KEYS[2] token       STRING  idempotency marker of this call (expires after ARGV[2] ms)
KEYS[3] ready       LIST    ids of jobs ready to run, oldest first
KEYS[4] delayed     ZSET    ids of jobs waiting for their due time (score: due ms, Redis time)
KEYS[5] jobs        HASH    id -> encoded job envelope (never decoded here)
KEYS[6] wake        LIST    wake-up token for idle workers of this queue
KEYS[7] budget      HASH    id -> max_retries of jobs that may run again (-1: no limit)

ARGV[1]             schema version expected by the caller
ARGV[2]             lifetime of the idempotency marker, in ms
ARGV[3..]           one group of three per job: id, meta, payload
                    meta is "" (due now, at most once) or "at_ms:delay_ms:max_retries":
                      due = at_ms if at_ms > 0 else now + delay_ms; due <= now means ready now;
                      max_retries: 0 at most once, n > 0 retried up to n times, -1 no limit.

Returns {0, queued, delayed, duplicates}
        {1}                 this call already ran (a retry after a lost reply): nothing done
        {-1, stored}        schema mismatch: nothing done
A job whose id is already known to the queue is skipped and counted as a duplicate.
]]
--- @include "prelude"

local err = schema_error(KEYS[1], ARGV[1])
if err then
  return err
end
if not redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[2]) then
  return {1}
end

local now = now_ms()
local earliest_before = earliest_due(KEYS[4])
local ready_ids = {}
local delayed_args = {}
local budgets = {}
local earliest = nil
local duplicates = 0

-- Jobs of one batch mostly share their meta: parse each distinct one once.
local metas = {[''] = {0, 0, '0'}}
local function parse_meta(meta)
  local parsed = metas[meta]
  if parsed == nil then
    local at, delay, budget = string.match(meta, '^(%-?%d+):(%-?%d+):(%-?%d+)$')
    parsed = {tonumber(at), tonumber(delay), budget}
    metas[meta] = parsed
  end
  return parsed
end

-- One HMGET and one HSET for the whole batch: a command per job would dominate the cost.
local ids = {}
for i = 3, #ARGV, 3 do
  ids[#ids + 1] = ARGV[i]
end
local known = hmget_sliced(KEYS[5], ids)
local envelopes = {}
local seen = {}

for n = 1, #ids do
  local i = 3 + (n - 1) * 3
  local id = ids[n]
  if known[n] == false and not seen[id] then
    seen[id] = true
    envelopes[#envelopes + 1] = id
    envelopes[#envelopes + 1] = ARGV[i + 2]
    local meta = parse_meta(ARGV[i + 1])
    local due = meta[1]
    if due <= 0 then
      due = now + meta[2]
    end
    if due <= now then
      ready_ids[#ready_ids + 1] = id
    else
      delayed_args[#delayed_args + 1] = due
      delayed_args[#delayed_args + 1] = id
      if earliest == nil or due < earliest then
        earliest = due
      end
    end
    if meta[3] ~= '0' then
      budgets[#budgets + 1] = id
      budgets[#budgets + 1] = meta[3]
    end
  else
    duplicates = duplicates + 1
  end
end

call_sliced('HSET', KEYS[5], envelopes)
call_sliced('RPUSH', KEYS[3], ready_ids)
call_sliced('ZADD', KEYS[4], delayed_args)
call_sliced('HSET', KEYS[7], budgets)

-- Wake one idle worker when there is work now, or when the next due time moved earlier (its
-- sleeping workers must shorten their wait).
if #ready_ids > 0 or (earliest and (earliest_before == nil or earliest < earliest_before)) then
  ensure_wake_token(KEYS[6])
end

return {0, #ready_ids, #delayed_args / 2, duplicates}
