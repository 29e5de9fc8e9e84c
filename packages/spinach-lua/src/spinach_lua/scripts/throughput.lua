--[[
Read the per-minute counts of a queue's outcomes, read-only (the dashboard's chart).

KEYS
  schema      STRING  schema version of this queue's data

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
local minutes = math.min(tonumber(ARG.minutes), 120)
local counts = {}
for minute = current - minutes + 1, current do
  local found = redis.call('HMGET', STATS_PREFIX .. minute, 's', 'f', 'r')
  counts[#counts + 1] = tonumber(found[1]) or 0
  counts[#counts + 1] = tonumber(found[2]) or 0
  counts[#counts + 1] = tonumber(found[3]) or 0
end
return reply{first_minute_ms = (current - minutes + 1) * 60000, counts = counts}
