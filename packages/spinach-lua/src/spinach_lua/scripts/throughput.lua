--[[
Read the per-minute counts of a queue's outcomes, read-only (the dashboard's chart).

KEYS
  schema      STRING  schema version of this queue's data
  stats       HASH    per-minute counts of outcomes (see the history include)

ARGV
  version     schema version expected by the caller
  minutes     how many minutes to read, ending with the current one (at most 120: the counts
              expire after two hours)

REPLY
  first_minute_ms  the start of the first minute read (ms, Redis time)
  counts      per minute, oldest first: succeeded, failed, retried (three numbers each)
]]
--- @include "prelude"
--- @include "record"
--- @include "history"
--- @include "schema_peek"

local current = math.floor(now_ms() / 60000)
local minutes = math.min(tonumber(ARG.minutes), STATS_MINUTES)
local slots = {}
for minute = current - minutes + 1, current do
  slots[#slots + 1] = minute % STATS_MINUTES
end
local found = redis.call('HMGET', KEY.stats, unpack(slots))
local counts = {}
for n = 1, #slots do
  local at, s, f, r = string.match(found[n] or '', '^(%d+):(%d+):(%d+):(%d+)$')
  local fresh = at and tonumber(at) == current - minutes + n
  counts[3 * n - 2] = fresh and tonumber(s) or 0
  counts[3 * n - 1] = fresh and tonumber(f) or 0
  counts[3 * n] = fresh and tonumber(r) or 0
end
return reply{first_minute_ms = (current - minutes + 1) * 60000, counts = counts}
